! Example: load a model, generate greedily from a prompt, stream the text.
!   septet_fortran_generate MODEL [PROMPT] [N]
! Prints the text as it is generated, then the generated ids on one line.
module generate_stream
  use, intrinsic :: iso_c_binding
  use septet, only: septet_c_text
  implicit none
contains
  function print_text(text, len, user) bind(c) result(go)
    type(c_ptr), value :: text
    integer(c_size_t), value :: len
    type(c_ptr), value :: user
    integer(c_int) :: go
    if (c_associated(user)) continue  ! no user data here
    write(*, '(a)', advance='no') septet_c_text(text, len)
    go = 1
  end function
end module generate_stream

program septet_fortran_generate
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  use septet
  use generate_stream, only: print_text
  implicit none
  character(len=4096) :: path, prompt, arg
  integer :: n_gen, finish, i
  type(septet_model) :: model
  type(septet_context) :: ctx
  type(septet_sampler_params), target :: greedy
  integer(c_int32_t), allocatable :: ids(:), out(:)

  if (command_argument_count() < 1) then
    write(error_unit, '(a)') 'usage: septet_fortran_generate MODEL [PROMPT] [N]'
    stop 2
  end if
  call get_command_argument(1, path)
  prompt = 'Once upon a time'
  if (command_argument_count() >= 2) call get_command_argument(2, prompt)
  n_gen = 32
  if (command_argument_count() >= 3) then
    call get_command_argument(3, arg)
    read(arg, *) n_gen
  end if

  call check(septet_load(model, path), 'septet_load')
  call check(septet_new_context(ctx, model, 0, 1), 'septet_new_context')
  call check(septet_tokenize(model, trim(prompt), .true., ids), 'septet_tokenize')
  greedy = septet_default_sampler()
  greedy%temperature = 0.0
  write(*, '(a)', advance='no') trim(prompt)
  call check(septet_generate(ctx, ids, n_gen, out, sampler=greedy, callback=print_text, finish=finish), &
             'septet_generate')
  write(*, '(a)') ''
  write(*, '(a)', advance='no') 'ids:'
  do i = 1, size(out)
    write(*, '(1x,i0)', advance='no') out(i)
  end do
  write(*, '(a)') ''
  call check(septet_free_context(ctx), 'septet_free_context')
  call check(septet_free_model(model), 'septet_free_model')
  deallocate(ids, out)  ! main-program variables are saved: free them for LeakSanitizer

contains
  subroutine check(status, what)
    integer, intent(in) :: status
    character(len=*), intent(in) :: what
    if (status /= SEPTET_OK) then
      write(error_unit, '(a, a, i0, a, a)') what, ': status ', status, ': ', septet_last_error()
      error stop 1
    end if
  end subroutine
end program
