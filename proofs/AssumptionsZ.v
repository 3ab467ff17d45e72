(* The integer theorems must use no axioms at all: proofs/check.sh requires
   every report below to be "Closed under the global context". *)
From Septet Require Import Params Overflow.

Print Assumptions Params.q3p5_kmax_is_floor.
Print Assumptions Params.seed_kmax_is_floor.
Print Assumptions Overflow.int32_dot_prefixes_fit.
Print Assumptions Overflow.q3p5_no_int32_overflow.
Print Assumptions Overflow.q3p5_sub_block_acc_bound.
Print Assumptions Overflow.q3p5_q8b_block_acc_bound.
Print Assumptions Overflow.four_maddubs_sum_fits_int16.
Print Assumptions Overflow.q3p5_simd_partial_sums_fit.
Print Assumptions Overflow.q3p5_kmax_plus_one_overflows.
Print Assumptions Overflow.seed_no_int32_overflow.
Print Assumptions Overflow.seed_kmax_plus_one_overflows_in_bound_model.
Print Assumptions Overflow.maddubs_never_saturates.
Print Assumptions Overflow.maddwd_exact.
Print Assumptions Overflow.q8a_sum_fits_int16.
Print Assumptions Overflow.q8r_sum_fits_int32.
Print Assumptions Overflow.seed_simd_wrapping_acc_exact.
Print Assumptions Overflow.seed_real_rows_fit.
Print Assumptions Overflow.seed_real_row_overflow_witness.
Print Assumptions Overflow.seed_any_partial_sum_fits.
