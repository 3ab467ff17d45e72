(* dequant_distributes: the kernels' order "integer-accumulate, then scale"
   equals "dequantize every weight and activation, then sum the products",
   exactly, in the reals. This is why a vec_dot only needs one int32 dot and a
   few float operations per block, and it is the exact-arithmetic identity the
   float error model of docs/formats.md ("The blockwise dot distributes") builds
   on; the float roundings themselves are measured by the C++ tests.

   Formulas as the code has them:
   * Q3P5 x Q8_A, per 32-weight sub-block s (src/quant/q3p5.cc Q3P5VecDot,
     src/kernels/simd/dot_q3p5.cc CombineAffine):
       term_s = x_d_s * (h * acc_s + m * x_sum_s),  acc_s = sum_k x_q[k] * v[k],
     h = d / 2, v = 2u (or v = 2u + e in sub-block sel), weight value m + h * v;
     the row is the sum of the terms of all its sub-blocks (all blocks, including
     a final short block). x_sum_s is Q8_A's stored `sum` = the sum of the
     block's codes (codes past n are zero padding, so they add nothing to either
     sum).
   * Q3P5 on the repacked slots layout (src/kernels/simd/dot_q3p5_slots.cc):
       y_b = 0.5 * (d * T_b) + m * X_b,  T_b = sum_k acc'_k * c_k * x_d(k),
       X_b = sum_s x_d_s * x_sum_s, c = 1 for the half-step codes v, 2 for u.
   * Q3P5_SEED x Q8_R (src/quant/q3p5_seed.cc Q3P5SeedVecDot, SeedCombine):
       result = (x_d * scale) * (acc + offset * x_sum), acc over the whole row,
     weight value scale * (q + offset). *)

From Coq Require Import ZArith Reals Lra List.
From Septet Require Import Params Overflow.
Import ListNotations.
Open Scope R_scope.

Fixpoint sumR (l : list R) : R :=
  match l with [] => 0 | t :: r => t + sumR r end.

(* Dequantize-then-sum: sum_k W(c[k]) * X(x[k]) for a weight decoder W and an
   activation decoder X. *)
Fixpoint deq_dot (W X : Z -> R) (xs cs : list Z) : R :=
  match xs, cs with
  | x :: xs', c :: cs' => W c * X x + deq_dot W X xs' cs'
  | _, _ => 0
  end.

Lemma sumZ_IZR : forall l, IZR (sumZ l) = sumR (map IZR l).
Proof. induction l as [| a l IH]; simpl; [reflexivity |]. rewrite plus_IZR, IH. reflexivity. Qed.

Lemma sumR_app : forall a b, sumR (a ++ b) = sumR a + sumR b.
Proof. induction a as [| t a IH]; intros b; simpl; [ring | rewrite IH; ring]. Qed.

(* The affine decoder core: for W(c) = m + s * c and X(x) = x_d * x,
   sum_k W(c_k) X(x_k) = x_d * (s * sum x_k c_k + m * sum x_k). *)
Lemma affine_distributes : forall (s m xd : R) xs cs, length xs = length cs ->
  xd * (s * IZR (dotZ xs cs) + m * IZR (sumZ xs))
  = deq_dot (fun c => m + s * IZR c) (fun x => xd * IZR x) xs cs.
Proof.
  unfold dotZ. induction xs as [| x xs IH]; intros [| c cs] Hl; simpl in *; try discriminate.
  - ring.
  - injection Hl as Hl. rewrite <- IH by exact Hl.
    rewrite !plus_IZR, mult_IZR. ring.
Qed.

(* ------------------------------------------------------------------------- *)
(* Q3P5.                                                                       *)

(* One 32-weight sub-block with its activation block: the block's (d, m), the
   activation scale x_d, the activation codes and the half-step codes v. *)
Record q3p5_unit := { qd : R; qm : R; qxd : R; qx : list Z; qv : list Z }.

(* The kernels' term for the unit: x_d * (h * acc + m * x_sum), h = d / 2. *)
Definition q3p5_kernel_term (u : q3p5_unit) : R :=
  qxd u * ((qd u / 2) * IZR (dotZ (qx u) (qv u)) + qm u * IZR (sumZ (qx u))).

(* Dequantized weights m + h * v and activations x_d * x_q of the unit. *)
Definition q3p5_deq_weights (u : q3p5_unit) : list R := map (fun v => qm u + (qd u / 2) * IZR v) (qv u).
Definition q3p5_deq_acts (u : q3p5_unit) : list R := map (fun x => qxd u * IZR x) (qx u).

(* Plain float-vector dot of two dequantized rows. *)
Fixpoint dotR (ws xs : list R) : R :=
  match ws, xs with
  | w :: ws', x :: xs' => w * x + dotR ws' xs'
  | _, _ => 0
  end.

Lemma dotR_app : forall a b c e, length a = length c ->
  dotR (a ++ b) (c ++ e) = dotR a c + dotR b e.
Proof.
  induction a as [| w a IH]; intros b [| x c] e Hl; simpl in *; try discriminate.
  - ring.
  - injection Hl as Hl. rewrite IH by exact Hl. ring.
Qed.

Lemma deq_dot_dotR : forall W X xs cs, length xs = length cs ->
  deq_dot W X xs cs = dotR (map W cs) (map X xs).
Proof.
  induction xs as [| x xs IH]; intros [| c cs] Hl; simpl in *; try discriminate; [reflexivity |].
  injection Hl as Hl. rewrite IH by exact Hl. reflexivity.
Qed.

(* THE THEOREM (one Q3P5 sub-block): the kernel's term is exactly the dot of the
   dequantized weights and the dequantized activations. *)
Theorem q3p5_sub_block_distributes : forall u, length (qx u) = length (qv u) ->
  q3p5_kernel_term u = dotR (q3p5_deq_weights u) (q3p5_deq_acts u).
Proof.
  intros u Hl. unfold q3p5_kernel_term, q3p5_deq_weights, q3p5_deq_acts.
  rewrite affine_distributes by exact Hl. apply deq_dot_dotR. exact Hl.
Qed.

(* THE THEOREM (a whole Q3P5 row): a row is the list of its sub-blocks (4 per full
   block, ns in a final short block, each carrying its block's d and m); the sum
   of the kernel terms equals the dot of the whole dequantized weight row with
   the whole dequantized activation row. *)
Theorem q3p5_dequant_distributes : forall units : list q3p5_unit,
  Forall (fun u => length (qx u) = length (qv u)) units ->
  sumR (map q3p5_kernel_term units)
  = dotR (concat (map q3p5_deq_weights units)) (concat (map q3p5_deq_acts units)).
Proof.
  induction units as [| u us IH]; intros H; simpl; [reflexivity |].
  inversion H as [| u' us' Hu Hus]; subst.
  rewrite dotR_app.
  - rewrite q3p5_sub_block_distributes by exact Hu. rewrite IH by exact Hus. reflexivity.
  - unfold q3p5_deq_weights, q3p5_deq_acts. rewrite !map_length. symmetry. exact Hu.
Qed.

(* The decoder's half-step form is the format's value: m + h * (2u) = m + d * u,
   and in sub-block sel m + h * v with v = 2u + e. *)
Lemma q3p5_half_step_value : forall d m u, m + (d / 2) * IZR (2 * u) = m + d * IZR u.
Proof. intros. rewrite mult_IZR. simpl. lra. Qed.

(* The slots kernel (dot_q3p5_slots.cc) regroups the same sums: each slot k has
   codes c_k-scaled (c = 1: v, c = 2: u with v = 2u), T = sum_k acc'_k c_k x_d(k),
   X = sum_k x_d(k) x_sum(k), y = 0.5 * (d * T) + m * X. *)
Record slot := { sxd : R; sx : list Z; su : list Z; sc : Z }.

Definition slot_unit (d m : R) (s : slot) : q3p5_unit :=
  {| qd := d; qm := m; qxd := sxd s; qx := sx s; qv := map (fun u => (sc s * u)%Z) (su s) |}.

Lemma dot_scale : forall xs us c, dotZ xs (map (fun u => (c * u)%Z) us) = (c * dotZ xs us)%Z.
Proof.
  unfold dotZ. induction xs as [| x xs IH]; intros [| u us] c; simpl; try ring.
  rewrite IH. ring.
Qed.

Theorem q3p5_slots_kernel_distributes : forall (d m : R) (slots : list slot),
  0.5 * (d * sumR (map (fun s => IZR (dotZ (sx s) (su s)) * IZR (sc s) * sxd s) slots))
  + m * sumR (map (fun s => sxd s * IZR (sumZ (sx s))) slots)
  = sumR (map (fun s => q3p5_kernel_term (slot_unit d m s)) slots).
Proof.
  intros d m. induction slots as [| s ss IH]; simpl; [ring |].
  rewrite <- IH. unfold q3p5_kernel_term, slot_unit; simpl.
  rewrite dot_scale, mult_IZR. replace 0.5 with (/ 2) by lra. field.
Qed.

(* ------------------------------------------------------------------------- *)
(* Q3P5_SEED: one accumulator and one float combination per row.              *)

Theorem seed_dequant_distributes : forall (scale offset xd : R) (xs qs : list Z),
  length xs = length qs ->
  (xd * scale) * (IZR (dotZ xs qs) + offset * IZR (sumZ xs))
  = dotR (map (fun q => scale * (IZR q + offset)) qs) (map (fun x => xd * IZR x) xs).
Proof.
  intros scale offset xd xs qs Hl.
  rewrite <- deq_dot_dotR by exact Hl.
  transitivity (deq_dot (fun q => scale * offset + scale * IZR q) (fun x => xd * IZR x) xs qs).
  - rewrite <- affine_distributes by exact Hl. ring.
  - clear Hl. revert qs. induction xs as [| x xs IH]; intros [| q qs]; simpl; try reflexivity.
    rewrite IH. ring.
Qed.
