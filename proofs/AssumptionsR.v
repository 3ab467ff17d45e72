(* The real-number theorems may use only the axioms of Coq's standard real
   numbers (proofs/check.sh has the allow-list; proofs/README.md lists them). *)
From Septet Require Import ErrorBound Distributes.

Print Assumptions ErrorBound.q3p5_quantization_error_bound.
Print Assumptions ErrorBound.q3p5_block_error_bound.
Print Assumptions ErrorBound.q3p5_clamp_low.
Print Assumptions ErrorBound.q3p5_clamp_high.
Print Assumptions ErrorBound.q3p5_stored_step_bound.
Print Assumptions ErrorBound.q3p5_unrecomputed_codes_cost.
Print Assumptions ErrorBound.q3p5_quantization_error_bound_float.
Print Assumptions ErrorBound.seed_quantization_error_bound.
Print Assumptions ErrorBound.seed_clamp_low.
Print Assumptions ErrorBound.seed_clamp_high.
Print Assumptions Distributes.q3p5_sub_block_distributes.
Print Assumptions Distributes.q3p5_dequant_distributes.
Print Assumptions Distributes.q3p5_slots_kernel_distributes.
Print Assumptions Distributes.seed_dequant_distributes.
