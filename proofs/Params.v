(* The exact integer parameters of Q3P5, Q3P5_SEED and their INT8 activations,
   as the C++ code has them. Every line of the form

       Definition <name> : Z := <integer literal>.

   in proofs/*.v is compared with the C++ constant of the same meaning by the
   gtest `ProofConstants.MatchCppConstexprs` (src/quant/proof_constants_test.cc):
   change one side and that test fails. docs/proofs.md maps each name to its
   C++ symbol. Derived facts (K_max = floor(...)) are proved below by computation,
   not assumed. *)

From Coq Require Import ZArith.
Open Scope Z_scope.

(* ---- machine integers (src/quant/quant_util.h kInt32Max; <cstdint>) ---- *)
Definition int32_max : Z := 2147483647.
Definition int32_min : Z := -2147483648.
Definition int16_max : Z := 32767.
Definition int16_min : Z := -32768.

(* ---- INT8 activations (src/quant/quant_util.h, src/quant/q8_act.h) ----
   Codes are symmetric in [-act_max_abs, act_max_abs]; -128 is never produced. *)
Definition act_max_abs : Z := 127.
Definition q8a_block_size : Z := 32.
Definition q8b_block_size : Z := 128.   (* Q8_B: one scale per Q3P5 block (CPU kernels, repacked Q3P5) *)
Definition q8r_max_row_length : Z := 16909320.

(* ---- Q3P5 (src/quant/q3p5.h) ---- *)
Definition q3p5_block_size : Z := 128.
Definition q3p5_sub_block_size : Z := 32.
Definition q3p5_sub_blocks : Z := 4.
Definition q3p5_max_code3 : Z := 7.     (* u in [0, 7], step d *)
Definition q3p5_max_code4 : Z := 15.    (* v = 2u + e in [0, 15], step d/2, sub-block sel *)
Definition q3p5_max_acc_length : Z := 1127288.   (* kQ3P5MaxAccLength = K_max *)
Definition q3p5_max_block_acc : Z := 243840.     (* kQ3P5MaxBlockAcc: one 128-weight block x Q8_B *)

(* ---- Q3P5_SEED (src/quant/q3p5_seed.h) ---- *)
Definition seed_pair_bits : Z := 7.
Definition seed_q4_min : Z := -8.       (* even positions: q4 in [-8, 7] *)
Definition seed_q4_max : Z := 7.
Definition seed_q3_min : Z := -4.       (* odd positions:  q3 in [-4, 3] *)
Definition seed_q3_max : Z := 3.
Definition seed_max_abs_code : Z := 8.
Definition seed_max_row_length : Z := 2113665.   (* kQ3P5SeedMaxRowLength = K_max *)

(* ---- derived facts, checked by computation ---- *)

(* MaxInt32DotLength(max_abs_x, max_abs_q) = kInt32Max / (max_abs_x * max_abs_q). *)
Definition max_int32_dot_length (max_abs_x max_abs_q : Z) : Z :=
  int32_max / (max_abs_x * max_abs_q).

Lemma q3p5_kmax_is_floor :
  q3p5_max_acc_length = max_int32_dot_length act_max_abs q3p5_max_code4.
Proof. reflexivity. Qed.

Lemma seed_kmax_is_floor :
  seed_max_row_length = max_int32_dot_length act_max_abs seed_max_abs_code.
Proof. reflexivity. Qed.

Lemma q8r_kmax_is_floor :
  q8r_max_row_length = max_int32_dot_length act_max_abs 1.
Proof. reflexivity. Qed.

(* Two's complement ranges. *)
Lemma int32_range : int32_min = - 2 ^ 31 /\ int32_max = 2 ^ 31 - 1.
Proof. split; reflexivity. Qed.

Lemma int16_range : int16_min = - 2 ^ 15 /\ int16_max = 2 ^ 15 - 1.
Proof. split; reflexivity. Qed.

(* The block structure: 4 sub-blocks of 32 = 128, and one Q8_A block per sub-block. *)
Lemma q3p5_block_structure :
  q3p5_sub_blocks * q3p5_sub_block_size = q3p5_block_size /\
  q3p5_sub_block_size = q8a_block_size /\
  q3p5_max_code4 = 2 * q3p5_max_code3 + 1.
Proof. repeat split; reflexivity. Qed.

(* The seed's bound charges every position the largest |code|, 8. *)
Lemma seed_max_abs_code_covers :
  seed_max_abs_code = Z.max (Z.abs seed_q4_min) (Z.max (Z.abs seed_q4_max)
                        (Z.max (Z.abs seed_q3_min) (Z.abs seed_q3_max))).
Proof. reflexivity. Qed.

(* 7 bits hold a 4-bit and a 3-bit field: 16 * 8 codes. *)
Lemma seed_pair_fields :
  2 ^ seed_pair_bits = (seed_q4_max - seed_q4_min + 1) * (seed_q3_max - seed_q3_min + 1).
Proof. reflexivity. Qed.
