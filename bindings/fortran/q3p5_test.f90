! ctest Fortran.Q3P5Matvec: the C API's Q3P5 matvec on Fortran-owned arrays
! against a reference computed here: dequantize W (the scalar codec), then the
! dot in double precision. The kernel quantizes x to 8 bits per 32-block
! (scale amax/127), so each product may be off by |w_k| * amax(block of k) / 254;
! float rounding adds gamma_{K+5} * sum_k |w_k| (|x_k| + amax / 254)
! (docs/formats.md, error model). Also: wrong sizes are refused.
program fortran_q3p5_test
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  use septet
  implicit none
  integer, parameter :: shapes(2, 5) = reshape([1, 1, 3, 64, 4, 128, 5, 172, 7, 300], [2, 5])
  integer :: failures, i

  failures = 0
  do i = 1, size(shapes, 2)
    call check_shape(int(shapes(1, i), c_int64_t), int(shapes(2, i), c_int64_t))
  end do
  call check_wrong_sizes()
  if (failures > 0) then
    write(error_unit, '(i0, a)') failures, ' check(s) failed'
    error stop 1
  end if
  write(*, '(a)') 'Fortran Q3P5 matvec: matches dequantize-then-dot within the derived bound'

contains

  subroutine check_shape(rows, cols)
    integer(c_int64_t), intent(in) :: rows, cols
    real(c_float), allocatable :: w(:, :), deq(:, :), x(:), y(:)
    integer(c_int8_t), allocatable :: packed(:)
    integer(c_size_t) :: row_bytes
    real(c_double) :: ref, bound, amax, gam
    integer :: r, k, b0
    allocate(w(cols, rows), deq(cols, rows), x(cols), y(rows))
    call random_seed()
    call random_number(w)
    w = w - 0.5
    do k = 1, int(cols)
      x(k) = real(sin(0.37d0 * k), c_float)
      if (mod(k, 7) == 0) x(k) = 3 * x(k)
    end do
    call expect(septet_q3p5_row_bytes(cols, row_bytes) == SEPTET_OK, 'row_bytes')
    call expect(septet_q3p5_quantize(w, packed) == SEPTET_OK, 'quantize')
    call expect(size(packed, kind=c_size_t) == rows * row_bytes, 'packed size = rows * row_bytes')
    call expect(septet_q3p5_dequantize(packed, deq) == SEPTET_OK, 'dequantize')
    call expect(septet_q3p5_matvec(packed, rows, cols, x, y) == SEPTET_OK, 'matvec')
    gam = (cols + 5) * 2.0d0**(-24)
    do r = 1, int(rows)
      ref = 0
      bound = 0
      do k = 1, int(cols)
        b0 = ((k - 1) / 32) * 32 + 1
        amax = maxval(abs(real(x(b0:min(b0 + 31, int(cols))), c_double)))
        ref = ref + real(deq(k, r), c_double) * x(k)
        bound = bound + abs(real(deq(k, r), c_double)) * (amax / 254 * (1 + gam) + abs(real(x(k), c_double)) * gam)
      end do
      if (abs(y(r) - ref) > bound) then
        write(error_unit, '(a, i0, a, i0, a, i0, 3(a, es12.5))') 'rows ', rows, ' cols ', cols, ': row ', r, &
          ': matvec ', y(r), ', reference ', ref, ', bound ', bound
        failures = failures + 1
      end if
    end do
  end subroutine

  subroutine check_wrong_sizes()
    real(c_float) :: w(64, 2), x(64), y(2), y3(3)
    integer(c_int8_t), allocatable :: packed(:)
    w = 0.25
    x = 1
    call expect(septet_q3p5_quantize(w, packed) == SEPTET_OK, 'quantize 2 x 64')
    call expect(septet_q3p5_matvec(packed, 2_c_int64_t, 64_c_int64_t, x(1:63), y) == SEPTET_ERR_INVALID_ARGUMENT, &
                'x of 63 for cols = 64 refused')
    call expect(index(septet_last_error(), 'x_count = 63') > 0, 'error names x_count')
    call expect(septet_q3p5_matvec(packed, 2_c_int64_t, 64_c_int64_t, x, y3) == SEPTET_ERR_INVALID_ARGUMENT, &
                'y of 3 for rows = 2 refused')
    call expect(septet_q3p5_matvec(packed(1:10), 2_c_int64_t, 64_c_int64_t, x, y) == SEPTET_ERR_INVALID_ARGUMENT, &
                'short packed refused')
    call expect(septet_q3p5_matvec(packed, 2_c_int64_t, 64_c_int64_t, x, y) == SEPTET_OK, 'right sizes')
    call expect(all(abs(y - 16.0) < 0.2), 'constant rows: 64 * 0.25 = 16')
  end subroutine

  subroutine expect(cond, what)
    logical, intent(in) :: cond
    character(len=*), intent(in) :: what
    if (.not. cond) then
      write(error_unit, '(a, a, a)') 'FAILED: ', what, ' (last error: ' // septet_last_error() // ')'
      failures = failures + 1
    end if
  end subroutine
end program
