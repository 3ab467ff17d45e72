! Fortran 2008 binding of the septet C API (include/septet/septet_c.h) through
! iso_c_binding. Two layers:
!   * c_* interfaces: the C functions one for one (private);
!   * Fortran procedures: handles as derived types, Fortran strings and
!     allocatable arrays, every one returning the C status code (SEPTET_OK = 0).
! After a failure, septet_last_error() gives the text naming what was wrong.
!
! Matrices for the Q3P5 procedures are w(cols, rows): column r of the Fortran
! array is row r of the C matrix W[rows][cols] (same bytes, no copy), and
! y(r) = sum_k w(k, r) * x(k).
module septet
  use, intrinsic :: iso_c_binding
  implicit none
  private

  integer, parameter, public :: SEPTET_C_ABI_VERSION = 1
  integer(c_int), parameter, public :: SEPTET_OK = 0, SEPTET_ERR_INVALID_ARGUMENT = 1, SEPTET_ERR_NOT_FOUND = 2, &
    SEPTET_ERR_CORRUPT = 3, SEPTET_ERR_UNSUPPORTED = 4, SEPTET_ERR_IO = 5, SEPTET_ERR_OUT_OF_RANGE = 6, &
    SEPTET_ERR_INTERNAL = 7, SEPTET_ERR_NULL_ARGUMENT = 8, SEPTET_ERR_BAD_HANDLE = 9, &
    SEPTET_ERR_BUFFER_TOO_SMALL = 10, SEPTET_ERR_OUT_OF_MEMORY = 11, SEPTET_ERR_NO_LOGITS = 12
  integer(c_int64_t), parameter, public :: SEPTET_Q3P5_K_MAX = 1127288_c_int64_t

  ! The versioned parameter structs, laid out as in septet_c.h.
  type, bind(c), public :: septet_context_params
    integer(c_int32_t) :: struct_size = 0   ! uint32_t in C
    integer(c_int32_t) :: n_ctx = 0
    integer(c_int32_t) :: n_threads = 0
    type(c_ptr) :: backend = c_null_ptr
  end type
  type, bind(c), public :: septet_sampler_params
    integer(c_int32_t) :: struct_size = 0
    real(c_float) :: temperature = 0
    integer(c_int32_t) :: top_k = 0
    real(c_float) :: top_p = 0, min_p = 0, repeat_penalty = 0
    integer(c_int32_t) :: repeat_window = 0
    integer(c_int64_t) :: seed = 0          ! uint64_t in C
  end type
  type, bind(c) :: c_generate_params
    integer(c_int32_t) :: struct_size = 0
    integer(c_int32_t) :: max_tokens = 0
    integer(c_int32_t) :: stop_at_eos = 0
    type(c_ptr) :: sampler = c_null_ptr
  end type

  type, public :: septet_model
    type(c_ptr) :: h = c_null_ptr
  end type
  type, public :: septet_context
    type(c_ptr) :: h = c_null_ptr
  end type

  ! Streaming: receives text (len bytes at `text`); return 1 to go on, 0 to stop.
  abstract interface
    function septet_text_callback(text, len, user) bind(c) result(go)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), value :: text
      integer(c_size_t), value :: len
      type(c_ptr), value :: user
      integer(c_int) :: go
    end function
  end interface
  public :: septet_text_callback

  public :: septet_abi_version, septet_last_error, septet_c_text
  public :: septet_load, septet_free_model, septet_vocab_size
  public :: septet_new_context, septet_free_context, septet_default_sampler
  public :: septet_tokenize, septet_detokenize, septet_eval, septet_logits, septet_generate
  public :: septet_q3p5_row_bytes, septet_q3p5_quantize, septet_q3p5_dequantize, septet_q3p5_matvec

  interface
    function c_abi_version() bind(c, name="septet_abi_version") result(v)
      import :: c_int32_t
      integer(c_int32_t) :: v
    end function
    function c_last_error() bind(c, name="septet_last_error") result(p)
      import :: c_ptr
      type(c_ptr) :: p
    end function
    function c_strlen(s) bind(c, name="strlen") result(n)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function
    function c_model_load(path, options, out) bind(c, name="septet_model_load") result(s)
      import :: c_char, c_ptr, c_int
      character(kind=c_char), intent(in) :: path(*)
      type(c_ptr), value :: options
      type(c_ptr), intent(out) :: out
      integer(c_int) :: s
    end function
    function c_model_free(m) bind(c, name="septet_model_free") result(s)
      import :: c_ptr, c_int
      type(c_ptr), value :: m
      integer(c_int) :: s
    end function
    function c_model_vocab_size(m, out) bind(c, name="septet_model_vocab_size") result(s)
      import :: c_ptr, c_int, c_int32_t
      type(c_ptr), value :: m
      integer(c_int32_t), intent(out) :: out
      integer(c_int) :: s
    end function
    subroutine c_context_params_init(p) bind(c, name="septet_context_params_init")
      import :: septet_context_params
      type(septet_context_params), intent(inout) :: p
    end subroutine
    subroutine c_sampler_params_init(p) bind(c, name="septet_sampler_params_init")
      import :: septet_sampler_params
      type(septet_sampler_params), intent(inout) :: p
    end subroutine
    subroutine c_generate_params_init(p) bind(c, name="septet_generate_params_init")
      import :: c_generate_params
      type(c_generate_params), intent(inout) :: p
    end subroutine
    function c_context_create(m, params, out) bind(c, name="septet_context_create") result(s)
      import :: c_ptr, c_int, septet_context_params
      type(c_ptr), value :: m
      type(septet_context_params), intent(in) :: params
      type(c_ptr), intent(out) :: out
      integer(c_int) :: s
    end function
    function c_context_free(c) bind(c, name="septet_context_free") result(s)
      import :: c_ptr, c_int
      type(c_ptr), value :: c
      integer(c_int) :: s
    end function
    function c_tokenize(m, text, len, add_bos, tokens, capacity, n) bind(c, name="septet_tokenize") result(s)
      import :: c_ptr, c_char, c_size_t, c_int, c_int32_t
      type(c_ptr), value :: m
      character(kind=c_char), intent(in) :: text(*)
      integer(c_size_t), value :: len
      integer(c_int), value :: add_bos
      integer(c_int32_t), intent(out) :: tokens(*)
      integer(c_size_t), value :: capacity
      integer(c_size_t), intent(out) :: n
      integer(c_int) :: s
    end function
    function c_detokenize(m, tokens, n, text, capacity, n_bytes) bind(c, name="septet_detokenize") result(s)
      import :: c_ptr, c_char, c_size_t, c_int, c_int32_t
      type(c_ptr), value :: m
      integer(c_int32_t), intent(in) :: tokens(*)
      integer(c_size_t), value :: n
      character(kind=c_char), intent(out) :: text(*)
      integer(c_size_t), value :: capacity
      integer(c_size_t), intent(out) :: n_bytes
      integer(c_int) :: s
    end function
    function c_eval(c, tokens, n) bind(c, name="septet_eval") result(s)
      import :: c_ptr, c_size_t, c_int, c_int32_t
      type(c_ptr), value :: c
      integer(c_int32_t), intent(in) :: tokens(*)
      integer(c_size_t), value :: n
      integer(c_int) :: s
    end function
    function c_get_logits(c, logits, capacity, n) bind(c, name="septet_get_logits") result(s)
      import :: c_ptr, c_size_t, c_int, c_float
      type(c_ptr), value :: c
      real(c_float), intent(out) :: logits(*)
      integer(c_size_t), value :: capacity
      integer(c_size_t), intent(out) :: n
      integer(c_int) :: s
    end function
    function c_generate(c, prompt, n_prompt, params, callback, user, tokens, capacity, n, finish) &
        bind(c, name="septet_generate") result(s)
      import :: c_ptr, c_funptr, c_size_t, c_int, c_int32_t, c_generate_params
      type(c_ptr), value :: c
      integer(c_int32_t), intent(in) :: prompt(*)
      integer(c_size_t), value :: n_prompt
      type(c_generate_params), intent(in) :: params
      type(c_funptr), value :: callback
      type(c_ptr), value :: user
      integer(c_int32_t), intent(out) :: tokens(*)
      integer(c_size_t), value :: capacity
      integer(c_size_t), intent(out) :: n
      integer(c_int), intent(out) :: finish
      integer(c_int) :: s
    end function
    function c_q3p5_row_bytes(cols, out) bind(c, name="septet_q3p5_row_bytes") result(s)
      import :: c_int64_t, c_size_t, c_int
      integer(c_int64_t), value :: cols
      integer(c_size_t), intent(out) :: out
      integer(c_int) :: s
    end function
    function c_q3p5_quantize(w, rows, cols, out, capacity, n) bind(c, name="septet_q3p5_quantize") result(s)
      import :: c_float, c_int64_t, c_int8_t, c_size_t, c_int
      real(c_float), intent(in) :: w(*)
      integer(c_int64_t), value :: rows, cols
      integer(c_int8_t), intent(out) :: out(*)
      integer(c_size_t), value :: capacity
      integer(c_size_t), intent(out) :: n
      integer(c_int) :: s
    end function
    function c_q3p5_dequantize(packed, packed_bytes, rows, cols, out, out_count) &
        bind(c, name="septet_q3p5_dequantize") result(s)
      import :: c_float, c_int64_t, c_int8_t, c_size_t, c_int
      integer(c_int8_t), intent(in) :: packed(*)
      integer(c_size_t), value :: packed_bytes
      integer(c_int64_t), value :: rows, cols
      real(c_float), intent(out) :: out(*)
      integer(c_size_t), value :: out_count
      integer(c_int) :: s
    end function
    function c_q3p5_matvec(packed, packed_bytes, rows, cols, x, x_count, y, y_count) &
        bind(c, name="septet_q3p5_matvec") result(s)
      import :: c_float, c_int64_t, c_int8_t, c_size_t, c_int
      integer(c_int8_t), intent(in) :: packed(*)
      integer(c_size_t), value :: packed_bytes
      integer(c_int64_t), value :: rows, cols
      real(c_float), intent(in) :: x(*)
      integer(c_size_t), value :: x_count
      real(c_float), intent(out) :: y(*)
      integer(c_size_t), value :: y_count
      integer(c_int) :: s
    end function
  end interface

contains

  integer function septet_abi_version()
    septet_abi_version = int(c_abi_version())
  end function

  ! A C pointer + length as a Fortran string (e.g. inside a text callback).
  function septet_c_text(p, n) result(s)
    type(c_ptr), intent(in) :: p
    integer(c_size_t), intent(in) :: n
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i
    allocate(character(len=int(n)) :: s)
    if (n == 0) return
    call c_f_pointer(p, chars, [n])
    do i = 1, int(n)
      s(i:i) = chars(i)
    end do
  end function

  ! The calling thread's last error text ("" after a success).
  function septet_last_error() result(s)
    character(len=:), allocatable :: s
    type(c_ptr) :: p
    p = c_last_error()
    s = septet_c_text(p, c_strlen(p))
  end function

  integer function septet_load(model, path) result(s)
    type(septet_model), intent(out) :: model
    character(len=*), intent(in) :: path
    s = int(c_model_load(trim(path) // c_null_char, c_null_ptr, model%h))
  end function

  ! Frees the handle and clears it (a second call is then a no-op).
  integer function septet_free_model(model) result(s)
    type(septet_model), intent(inout) :: model
    s = int(c_model_free(model%h))
    if (s == SEPTET_OK) model%h = c_null_ptr
  end function

  integer function septet_vocab_size(model, n) result(s)
    type(septet_model), intent(in) :: model
    integer, intent(out) :: n
    integer(c_int32_t) :: v
    s = int(c_model_vocab_size(model%h, v))
    n = int(v)
  end function

  ! n_ctx = 0: the model's (at most 4096); n_threads = 0: all hardware threads.
  integer function septet_new_context(ctx, model, n_ctx, n_threads) result(s)
    type(septet_context), intent(out) :: ctx
    type(septet_model), intent(in) :: model
    integer, intent(in) :: n_ctx, n_threads
    type(septet_context_params) :: p
    call c_context_params_init(p)
    p%n_ctx = int(n_ctx, c_int32_t)
    p%n_threads = int(n_threads, c_int32_t)
    s = int(c_context_create(model%h, p, ctx%h))
  end function

  integer function septet_free_context(ctx) result(s)
    type(septet_context), intent(inout) :: ctx
    s = int(c_context_free(ctx%h))
    if (s == SEPTET_OK) ctx%h = c_null_ptr
  end function

  ! The library's defaults (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, seed 0).
  function septet_default_sampler() result(p)
    type(septet_sampler_params) :: p
    call c_sampler_params_init(p)
  end function

  integer function septet_tokenize(model, text, add_bos, ids) result(s)
    type(septet_model), intent(in) :: model
    character(len=*), intent(in) :: text
    logical, intent(in) :: add_bos
    integer(c_int32_t), allocatable, intent(out) :: ids(:)
    integer(c_size_t) :: n, cap
    integer(c_int32_t) :: probe(1)
    n = 0
    s = int(c_tokenize(model%h, text, len(text, c_size_t), merge(1_c_int, 0_c_int, add_bos), probe, 0_c_size_t, n))
    if (s /= SEPTET_ERR_BUFFER_TOO_SMALL .and. s /= SEPTET_OK) return
    allocate(ids(n))
    if (n == 0) then
      s = SEPTET_OK
      return
    end if
    cap = n
    s = int(c_tokenize(model%h, text, len(text, c_size_t), merge(1_c_int, 0_c_int, add_bos), ids, cap, n))
  end function

  integer function septet_detokenize(model, ids, text) result(s)
    type(septet_model), intent(in) :: model
    integer(c_int32_t), intent(in) :: ids(:)
    character(len=:), allocatable, intent(out) :: text
    character(kind=c_char) :: probe(1)
    character(kind=c_char), allocatable :: buf(:)
    integer(c_size_t) :: n, cap
    integer :: i
    n = 0
    s = int(c_detokenize(model%h, ids, size(ids, kind=c_size_t), probe, 0_c_size_t, n))
    if (s /= SEPTET_ERR_BUFFER_TOO_SMALL) return
    cap = n + 1
    allocate(buf(cap))
    s = int(c_detokenize(model%h, ids, size(ids, kind=c_size_t), buf, cap, n))
    if (s /= SEPTET_OK) return
    allocate(character(len=int(n)) :: text)
    do i = 1, int(n)
      text(i:i) = buf(i)
    end do
  end function

  integer function septet_eval(ctx, ids) result(s)
    type(septet_context), intent(in) :: ctx
    integer(c_int32_t), intent(in) :: ids(:)
    s = int(c_eval(ctx%h, ids, size(ids, kind=c_size_t)))
  end function

  ! The last septet_eval's logits, logits(id + 1) for token id.
  integer function septet_logits(ctx, logits) result(s)
    type(septet_context), intent(in) :: ctx
    real(c_float), allocatable, intent(out) :: logits(:)
    real(c_float) :: probe(1)
    integer(c_size_t) :: n, cap
    n = 0
    s = int(c_get_logits(ctx%h, probe, 0_c_size_t, n))
    if (s /= SEPTET_ERR_BUFFER_TOO_SMALL) return
    cap = n
    allocate(logits(cap))
    s = int(c_get_logits(ctx%h, logits, cap, n))
  end function

  ! Evaluates `prompt` after what ctx holds and generates up to max_tokens ids
  ! into `ids` (allocated to the count generated). sampler: default
  ! septet_default_sampler(); callback: streams the text; finish: the
  ! septet_finish_reason (0 EOS, 1 stop string, 2 max tokens, 3 context full, 4 cancelled).
  integer function septet_generate(ctx, prompt, max_tokens, ids, sampler, callback, finish) result(s)
    type(septet_context), intent(in) :: ctx
    integer(c_int32_t), intent(in) :: prompt(:)
    integer, intent(in) :: max_tokens
    integer(c_int32_t), allocatable, intent(out) :: ids(:)
    type(septet_sampler_params), intent(in), target, optional :: sampler
    procedure(septet_text_callback), optional :: callback
    integer, intent(out), optional :: finish
    type(c_generate_params) :: p
    type(c_funptr) :: cb
    integer(c_int32_t), allocatable :: buf(:)
    integer(c_size_t) :: n
    integer(c_int) :: fin
    call c_generate_params_init(p)
    p%max_tokens = int(max_tokens, c_int32_t)
    if (present(sampler)) p%sampler = c_loc(sampler)
    cb = c_null_funptr
    if (present(callback)) cb = c_funloc(callback)
    allocate(buf(max(max_tokens, 1)))
    n = 0
    fin = 0
    s = int(c_generate(ctx%h, prompt, size(prompt, kind=c_size_t), p, cb, c_null_ptr, buf, &
                       int(max(max_tokens, 0), c_size_t), n, fin))
    if (s == SEPTET_OK) then
      ids = buf(1:n)
    else
      allocate(ids(0))
    end if
    if (present(finish)) finish = int(fin)
  end function

  integer function septet_q3p5_row_bytes(cols, nbytes) result(s)
    integer(c_int64_t), intent(in) :: cols
    integer(c_size_t), intent(out) :: nbytes
    s = int(c_q3p5_row_bytes(cols, nbytes))
  end function

  ! w(cols, rows) -> packed (allocated to rows * row_bytes(cols) bytes).
  integer function septet_q3p5_quantize(w, packed) result(s)
    real(c_float), intent(in), contiguous :: w(:, :)
    integer(c_int8_t), allocatable, intent(out) :: packed(:)
    integer(c_int8_t) :: probe(1)
    integer(c_size_t) :: n, cap
    n = 0
    s = int(c_q3p5_quantize(w, size(w, 2, c_int64_t), size(w, 1, c_int64_t), probe, 0_c_size_t, n))
    if (s /= SEPTET_ERR_BUFFER_TOO_SMALL .and. s /= SEPTET_OK) return
    cap = n
    allocate(packed(cap))
    s = int(c_q3p5_quantize(w, size(w, 2, c_int64_t), size(w, 1, c_int64_t), packed, cap, n))
  end function

  ! packed -> w(cols, rows) (the scalar reference decoder).
  integer function septet_q3p5_dequantize(packed, w) result(s)
    integer(c_int8_t), intent(in) :: packed(:)
    real(c_float), intent(out), contiguous :: w(:, :)
    s = int(c_q3p5_dequantize(packed, size(packed, kind=c_size_t), size(w, 2, c_int64_t), size(w, 1, c_int64_t), &
                              w, size(w, kind=c_size_t)))
  end function

  ! y(rows) = W x for the packed W of rows x cols (the SIMD kernel, 8-bit activations).
  ! Every size is passed on, so the C side reports a mismatch.
  integer function septet_q3p5_matvec(packed, rows, cols, x, y) result(s)
    integer(c_int8_t), intent(in) :: packed(:)
    integer(c_int64_t), intent(in) :: rows, cols
    real(c_float), intent(in) :: x(:)
    real(c_float), intent(out) :: y(:)
    s = int(c_q3p5_matvec(packed, size(packed, kind=c_size_t), rows, cols, x, size(x, kind=c_size_t), &
                          y, size(y, kind=c_size_t)))
  end function

end module septet
