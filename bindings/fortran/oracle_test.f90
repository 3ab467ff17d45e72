! ctest Fortran.Oracle: the stories260K float64 oracle's greedy ids through the
! Fortran binding, by septet_generate and by eval + logits + argmax; plus a
! misuse check (a freed handle, a short context). argv(1): stories260K.bin.
program fortran_oracle_test
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  use septet
  implicit none
  ! tests/model_oracle_test.cc kPrompt / kGreedy
  integer(c_int32_t), parameter :: prompt(5) = [1, 403, 407, 261, 378]
  integer(c_int32_t), parameter :: oracle(16) = [432, 383, 286, 261, 376, 298, 315, 421, &
                                                  395, 317, 426, 338, 401, 396, 267, 337]
  character(len=4096) :: path
  type(septet_model) :: model, stale
  type(septet_context) :: ctx
  type(septet_sampler_params), target :: greedy
  integer(c_int32_t), allocatable :: ids(:), out(:)
  integer(c_int32_t) :: next(1), got(16)
  real(c_float), allocatable :: logits(:)
  character(len=:), allocatable :: text
  integer :: failures, i, finish, vocab

  failures = 0
  call get_command_argument(1, path)
  call expect(septet_abi_version() == SEPTET_C_ABI_VERSION, 'ABI version')
  call expect_ok(septet_load(model, path), 'septet_load')
  call expect_ok(septet_vocab_size(model, vocab), 'septet_vocab_size')
  call expect(vocab == 512, 'vocab 512')
  call expect_ok(septet_tokenize(model, 'Once upon a time', .true., ids), 'septet_tokenize')
  call expect(size(ids) == 5, 'prompt is 5 ids')
  if (size(ids) == 5) call expect(all(ids == prompt), 'prompt ids')

  ! 1. generate (greedy)
  greedy = septet_default_sampler()
  greedy%temperature = 0.0
  call expect_ok(septet_new_context(ctx, model, 64, 1), 'septet_new_context')
  call expect_ok(septet_generate(ctx, prompt, 16, out, sampler=greedy, finish=finish), 'septet_generate')
  call expect(size(out) == 16, 'generated 16 ids')
  if (size(out) == 16) call expect(all(out == oracle), 'generate: oracle ids')
  call expect(finish == 2, 'finish = max tokens')
  call expect_ok(septet_detokenize(model, oracle, text), 'septet_detokenize')
  call expect(len(text) > 25, 'detokenized length')
  if (len(text) > 25) call expect(text(1:25) == ', there was a little girl', 'detokenized text')
  call expect_ok(septet_free_context(ctx), 'septet_free_context')

  ! 2. eval + logits + argmax
  call expect_ok(septet_new_context(ctx, model, 64, 1), 'septet_new_context')
  call expect(septet_logits(ctx, logits) == SEPTET_ERR_NO_LOGITS, 'no logits before eval')
  call expect_ok(septet_eval(ctx, prompt), 'septet_eval prompt')
  do i = 1, 16
    call expect_ok(septet_logits(ctx, logits), 'septet_logits')
    next(1) = int(maxloc(logits, 1) - 1, c_int32_t)
    got(i) = next(1)
    call expect_ok(septet_eval(ctx, next), 'septet_eval token')
  end do
  call expect(all(got == oracle), 'eval + argmax: oracle ids')
  call expect_ok(septet_free_context(ctx), 'septet_free_context')

  ! 3. misuse
  call expect_ok(septet_new_context(ctx, model, 4, 1), 'septet_new_context n_ctx 4')
  call expect(septet_eval(ctx, prompt) == SEPTET_ERR_OUT_OF_RANGE, 'prompt past n_ctx')
  call expect(index(septet_last_error(), 'n_ctx = 4') > 0, 'error names n_ctx')
  call expect_ok(septet_free_context(ctx), 'septet_free_context')
  stale = model
  call expect_ok(septet_free_model(model), 'septet_free_model')
  call expect(septet_free_model(stale) == SEPTET_ERR_BAD_HANDLE, 'double free refused')
  call expect(septet_free_model(model) == SEPTET_OK, 'free of a cleared handle is a no-op')

  deallocate(ids, out, logits, text)  ! main-program variables are saved: free them for LeakSanitizer
  if (failures > 0) then
    write(error_unit, '(i0, a)') failures, ' check(s) failed'
    error stop 1
  end if
  write(*, '(a)') 'Fortran oracle: 16 greedy ids match (generate and eval + argmax)'

contains
  subroutine expect(cond, what)
    logical, intent(in) :: cond
    character(len=*), intent(in) :: what
    if (.not. cond) then
      write(error_unit, '(a, a, a)') 'FAILED: ', what, ' (last error: ' // septet_last_error() // ')'
      failures = failures + 1
    end if
  end subroutine
  subroutine expect_ok(status, what)
    integer, intent(in) :: status
    character(len=*), intent(in) :: what
    call expect(status == SEPTET_OK, what)
  end subroutine
end program
