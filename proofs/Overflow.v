(* no_int32_overflow: the integer dot products of the Q3P5 and Q3P5_SEED
   kernels never overflow int32 for every row / sub-block length K up to the
   K_max the code uses, including the int16 intermediates of vpmaddubsw and the
   int32 ones of vpmaddwd / vpdpbusd; and K_max + 1 can overflow (witnesses).

   Everything here is over Z only: Print Assumptions reports no axioms.

   Kernels modelled (src/quant/q3p5.cc Q3P5VecDot, src/quant/q3p5_seed.cc
   Q3P5SeedDotI32, src/kernels/simd/dot_q3p5.cc, dot_q3p5_slots.cc, dot_seed.cc,
   src/kernels/simd/common-inl.h MulAddU8I8 / DotU8I8 / DotCodesI32):
   * scalar: `acc += x[k] * c[k]` in order, so the accumulator after k steps is
     the sum of the first k products; every such prefix must fit int32;
   * SIMD: every intermediate value (a vpmaddubsw int16 pair sum, a vpmaddwd or
     vpdpbusd int32 lane, a horizontal-sum partial) is the sum of some of the
     products, possibly times 2 (v = 2u); we bound every such sum;
   * Q3P5_SEED AVX2 lets int32 lanes wrap and relies on the final value being
     exact: proved below from arithmetic modulo 2^32. *)

From Coq Require Import ZArith Lia List.
From Septet Require Import Params.
Import ListNotations.
Open Scope Z_scope.

Definition in_int32 (z : Z) : Prop := int32_min <= z <= int32_max.
Definition in_int16 (z : Z) : Prop := int16_min <= z <= int16_max.

(* An INT8 activation code as Q8_A / Q8_R store it. *)
Definition act_code (x : Z) : Prop := - act_max_abs <= x <= act_max_abs.

Fixpoint sumZ (l : list Z) : Z :=
  match l with [] => 0 | t :: r => t + sumZ r end.

(* The products x[k] * c[k] of a dot product, in index order. *)
Fixpoint products (xs cs : list Z) : list Z :=
  match xs, cs with
  | x :: xs', c :: cs' => x * c :: products xs' cs'
  | _, _ => []
  end.

Definition dotZ (xs cs : list Z) : Z := sumZ (products xs cs).

(* ------------------------------------------------------------------------- *)
(* Generic bounds.                                                            *)

(* A sum of terms, each at most B in magnitude, is at most B * (number of terms). *)
Lemma sum_bound : forall (B : Z) (l : list Z),
  (forall t, In t l -> Z.abs t <= B) -> Z.abs (sumZ l) <= B * Z.of_nat (length l).
Proof.
  intros B l; induction l as [| a l IH]; intros H.
  - simpl. lia.
  - assert (Ha : Z.abs a <= B) by (apply H; left; reflexivity).
    assert (Hl : Z.abs (sumZ l) <= B * Z.of_nat (length l))
      by (apply IH; intros t Ht; apply H; right; exact Ht).
    pose proof (Z.abs_triangle a (sumZ l)).
    replace (Z.of_nat (length (a :: l))) with (Z.of_nat (length l) + 1) by (simpl length; lia).
    change (sumZ (a :: l)) with (a + sumZ l). lia.
Qed.

Lemma in_firstn : forall (k : nat) (l : list Z) t, In t (firstn k l) -> In t l.
Proof.
  intros k l t H. rewrite <- (firstn_skipn k l). apply in_or_app. left. exact H.
Qed.

Lemma in_products : forall xs cs t, In t (products xs cs) ->
  exists x c, In x xs /\ In c cs /\ t = x * c.
Proof.
  induction xs as [| x xs IH]; intros cs t H; simpl in H.
  - contradiction.
  - destruct cs as [| c cs]; [contradiction |].
    destruct H as [H | H].
    + exists x, c. subst t. split; [left | split; [left |]]; reflexivity.
    + destruct (IH cs t H) as (x' & c' & Hx & Hc & ->).
      exists x', c'. split; [right | split; [right |]]; auto.
Qed.

Lemma products_length : forall xs cs, (length (products xs cs) <= length cs)%nat.
Proof.
  induction xs as [| x xs IH]; intros [| c cs]; simpl; try lia.
  specialize (IH cs). lia.
Qed.

(* Each product of an activation code and a code with |c| <= Q is at most 127 Q. *)
Lemma product_bound : forall Q xs cs t,
  Forall act_code xs -> Forall (fun c => Z.abs c <= Q) cs ->
  In t (products xs cs) -> Z.abs t <= act_max_abs * Q.
Proof.
  intros Q xs cs t Hx Hc Ht.
  destruct (in_products xs cs t Ht) as (x & c & Hxi & Hci & ->).
  rewrite Forall_forall in Hx, Hc.
  specialize (Hx x Hxi); specialize (Hc c Hci). unfold act_code in Hx.
  rewrite Z.abs_mul.
  apply Z.mul_le_mono_nonneg; unfold act_max_abs in *; lia.
Qed.

(* THE GENERIC THEOREM. If 127 * Q * K <= 2^31 - 1, a scalar int32 loop over at
   most K products of activation codes and codes |c| <= Q never overflows: every
   prefix sum (the accumulator after each step) is in int32. *)
Theorem int32_dot_prefixes_fit : forall (Q K : Z) xs cs,
  0 <= Q -> act_max_abs * Q * K <= int32_max ->
  Z.of_nat (length cs) <= K ->
  Forall act_code xs -> Forall (fun c => Z.abs c <= Q) cs ->
  forall k, in_int32 (sumZ (firstn k (products xs cs))).
Proof.
  intros Q K xs cs HQ HK Hlen Hx Hc k.
  assert (Hb : Z.abs (sumZ (firstn k (products xs cs)))
               <= act_max_abs * Q * Z.of_nat (length (firstn k (products xs cs)))).
  { apply (sum_bound (act_max_abs * Q)). intros t Ht.
    apply (product_bound Q xs cs t Hx Hc). eapply in_firstn; exact Ht. }
  assert (Hl : (length (firstn k (products xs cs)) <= length cs)%nat).
  { rewrite firstn_length. pose proof (products_length xs cs). lia. }
  assert (H0 : 0 <= act_max_abs * Q) by (unfold act_max_abs; lia).
  assert (act_max_abs * Q * Z.of_nat (length (firstn k (products xs cs)))
          <= act_max_abs * Q * K) by (apply Z.mul_le_mono_nonneg_l; lia).
  unfold in_int32, int32_min, int32_max in *. lia.
Qed.

(* The final accumulator is the k = length prefix. *)
Lemma dot_is_prefix : forall xs cs,
  dotZ xs cs = sumZ (firstn (length (products xs cs)) (products xs cs)).
Proof. intros. unfold dotZ. rewrite firstn_all. reflexivity. Qed.

Lemma sum_repeat : forall (a : Z) n, sumZ (repeat a n) = a * Z.of_nat n.
Proof.
  intros a n; induction n as [| n IH]; [simpl; lia |].
  change (sumZ (repeat a (S n))) with (a + sumZ (repeat a n)).
  rewrite IH, Nat2Z.inj_succ. lia.
Qed.

Lemma products_repeat : forall (a b : Z) n,
  products (repeat a n) (repeat b n) = repeat (a * b) n.
Proof. intros a b n; induction n as [| n IH]; simpl; [| rewrite IH]; reflexivity. Qed.

Lemma Forall_repeat' : forall (P : Z -> Prop) a n, P a -> Forall P (repeat a n).
Proof. intros P a n H; induction n; simpl; constructor; auto. Qed.

(* All-extreme inputs: n copies of a against n copies of b sum to a * b * n.
   (Stated for a variable n so that no proof ever builds a unary nat of size K_max.) *)
Lemma repeat_witness : forall (P Q : Z -> Prop) a b n, P a -> Q b ->
  exists xs cs, length cs = n /\ Forall P xs /\ Forall Q cs /\ dotZ xs cs = a * b * Z.of_nat n.
Proof.
  intros P Q a b n Ha Hb. exists (repeat a n), (repeat b n).
  split; [apply repeat_length |]. split; [apply Forall_repeat'; exact Ha |].
  split; [apply Forall_repeat'; exact Hb |].
  unfold dotZ. rewrite products_repeat, sum_repeat. reflexivity.
Qed.

(* ------------------------------------------------------------------------- *)
(* Q3P5 x Q8_A: one int32 accumulator per 32-weight sub-block, codes          *)
(* v = 2u in [0, 14] or v = 2u + e in [0, 15] (sub-block sel).                *)

Definition q3p5_code (v : Z) : Prop := 0 <= v <= q3p5_max_code4.

(* no_int32_overflow for Q3P5: every K <= K_max = kQ3P5MaxAccLength is safe. *)
Theorem q3p5_no_int32_overflow : forall xs vs,
  Z.of_nat (length vs) <= q3p5_max_acc_length ->
  Forall act_code xs -> Forall q3p5_code vs ->
  forall k, in_int32 (sumZ (firstn k (products xs vs))).
Proof.
  intros xs vs Hlen Hx Hv.
  apply (int32_dot_prefixes_fit q3p5_max_code4 q3p5_max_acc_length); try assumption.
  - unfold q3p5_max_code4; lia.
  - vm_compute. discriminate.
  - eapply Forall_impl; [| exact Hv]. intros v Hv'. unfold q3p5_code, q3p5_max_code4 in *. lia.
Qed.

(* Any Q3P5 dot of activation codes and codes v in [0, 15] is within 127 * 15 per
   product, times the number of products (at most the number of codes). *)
Lemma q3p5_dot_abs_bound : forall xs vs,
  Forall act_code xs -> Forall q3p5_code vs ->
  Z.abs (dotZ xs vs) <= act_max_abs * q3p5_max_code4 * Z.of_nat (length (products xs vs)) /\
  (length (products xs vs) <= length vs)%nat.
Proof.
  intros xs vs Hx Hv. unfold dotZ. split.
  - apply (sum_bound (act_max_abs * q3p5_max_code4)). intros t Ht.
    apply (product_bound q3p5_max_code4 xs vs t Hx); [| exact Ht].
    eapply Forall_impl; [| exact Hv]. intros v Hv'. unfold q3p5_code, q3p5_max_code4 in *. lia.
  - pose proof (products_length xs vs). lia.
Qed.

(* The kernels use K = 32 (one Q8_A block per sub-block), far below K_max, and the
   accumulator then stays within 32 * 127 * 15 = 60960 (the header's figure). *)
Theorem q3p5_sub_block_acc_bound : forall xs vs,
  Z.of_nat (length vs) <= q3p5_sub_block_size ->
  Forall act_code xs -> Forall q3p5_code vs ->
  q3p5_sub_block_size <= q3p5_max_acc_length /\ Z.abs (dotZ xs vs) <= 60960.
Proof.
  intros xs vs Hlen Hx Hv. split; [vm_compute; discriminate |].
  destruct (q3p5_dot_abs_bound xs vs Hx Hv) as [Hb Hl].
  unfold act_max_abs, q3p5_max_code4, q3p5_sub_block_size in *. lia.
Qed.

(* Q3P5 x Q8_B (quant::Q3P5VecDotQ8B and the CPU kernels on the repacked layout):
   one int32 sum over a whole block of at most 128 weights, |acc| <= 128 * 127 * 15
   = kQ3P5MaxBlockAcc, far inside int32 (the block is much shorter than K_max). *)
Theorem q3p5_q8b_block_acc_bound : forall xs vs,
  Z.of_nat (length vs) <= q3p5_block_size ->
  Forall act_code xs -> Forall q3p5_code vs ->
  q3p5_block_size <= q3p5_max_acc_length /\ Z.abs (dotZ xs vs) <= q3p5_max_block_acc /\ in_int32 (dotZ xs vs).
Proof.
  intros xs vs Hlen Hx Hv. split; [vm_compute; discriminate |].
  destruct (q3p5_dot_abs_bound xs vs Hx Hv) as [Hb Hl].
  unfold in_int32, int32_min, int32_max, act_max_abs, q3p5_max_code4, q3p5_block_size, q3p5_max_block_acc in *.
  split; lia.
Qed.

(* AVX2 / AVX3 without VNNI, Q3P5 x Q8_B: the four slots' vpmaddubsw int16 vectors
   are added in int16 before one vpmaddwd. Each lane of each is a pair sum within
   3810 (maddubs_never_saturates), so four of them stay within 15240 <= 32767: the
   int16 additions never wrap. *)
Theorem four_maddubs_sum_fits_int16 : forall p1 p2 p3 p4,
  Z.abs p1 <= 3810 -> Z.abs p2 <= 3810 -> Z.abs p3 <= 3810 -> Z.abs p4 <= 3810 ->
  in_int16 (p1 + p2) /\ in_int16 (p1 + p2 + p3) /\ in_int16 (p1 + p2 + p3 + p4) /\
  Z.abs (p1 + p2 + p3 + p4) <= 15240.
Proof.
  intros. unfold in_int16, int16_min, int16_max. repeat split; lia.
Qed.

(* Every intermediate of the SIMD sub-block dot (vpmaddubsw pair sums, vpmaddwd /
   vpdpbusd lanes, the horizontal-sum tree, 2 * sum(x u), sum(x e)) is a sum of at
   most 32 terms x * c with c in {u, 2u, e, v} subset [0, 15]: all within 60960. *)
Theorem q3p5_simd_partial_sums_fit : forall l : list Z,
  Z.of_nat (length l) <= q3p5_sub_block_size ->
  (forall t, In t l -> Z.abs t <= act_max_abs * q3p5_max_code4) ->
  Z.abs (sumZ l) <= 60960 /\ in_int32 (sumZ l).
Proof.
  intros l Hlen Ht. pose proof (sum_bound _ l Ht).
  unfold in_int32, int32_min, int32_max, act_max_abs, q3p5_max_code4, q3p5_sub_block_size in *.
  lia.
Qed.

(* K_max is the largest safe K: at K_max + 1 all-extreme inputs (x = 127, v = 15)
   give 127 * 15 * 1127289 = 2147485545 > 2^31 - 1. *)
Theorem q3p5_kmax_plus_one_overflows : exists xs vs,
  Z.of_nat (length vs) = q3p5_max_acc_length + 1 /\
  Forall act_code xs /\ Forall q3p5_code vs /\ ~ in_int32 (dotZ xs vs).
Proof.
  destruct (repeat_witness act_code q3p5_code act_max_abs q3p5_max_code4
              (Z.to_nat (q3p5_max_acc_length + 1))) as (xs & vs & Hl & Hx & Hv & Hd).
  - unfold act_code, act_max_abs. lia.
  - unfold q3p5_code, q3p5_max_code4. lia.
  - rewrite Z2Nat.id in Hd by (unfold q3p5_max_acc_length; lia).
    exists xs, vs. split; [| split; [exact Hx | split; [exact Hv |]]].
    + rewrite Hl. apply Z2Nat.id. unfold q3p5_max_acc_length; lia.
    + rewrite Hd. unfold in_int32, act_max_abs, q3p5_max_code4, q3p5_max_acc_length, int32_min,
                  int32_max. lia.
Qed.

(* ------------------------------------------------------------------------- *)
(* Q3P5_SEED x Q8_R: ONE int32 accumulator over the whole row of signed codes *)
(* q4 in [-8, 7] (even i), q3 in [-4, 3] (odd i).                              *)

Definition seed_code_even (q : Z) : Prop := seed_q4_min <= q <= seed_q4_max.
Definition seed_code_odd (q : Z) : Prop := seed_q3_min <= q <= seed_q3_max.

(* A row of seed codes: position i even -> q4 range, odd -> q3 range. *)
Fixpoint seed_row (even : bool) (qs : list Z) : Prop :=
  match qs with
  | [] => True
  | q :: r => (if even then seed_code_even q else seed_code_odd q) /\ seed_row (negb even) r
  end.

Lemma seed_row_abs : forall qs b, seed_row b qs -> Forall (fun q => Z.abs q <= seed_max_abs_code) qs.
Proof.
  induction qs as [| q qs IH]; intros b H; simpl in H; constructor.
  - destruct b; destruct H as [H _];
      unfold seed_code_even, seed_code_odd, seed_q4_min, seed_q4_max, seed_q3_min, seed_q3_max,
             seed_max_abs_code in *; lia.
  - destruct H as [_ H]. exact (IH _ H).
Qed.

(* no_int32_overflow for Q3P5_SEED: every row length n <= K_max = 2113665. *)
Theorem seed_no_int32_overflow : forall xs qs,
  Z.of_nat (length qs) <= seed_max_row_length ->
  Forall act_code xs -> seed_row true qs ->
  forall k, in_int32 (sumZ (firstn k (products xs qs))).
Proof.
  intros xs qs Hlen Hx Hq.
  apply (int32_dot_prefixes_fit seed_max_abs_code seed_max_row_length); try assumption.
  - unfold seed_max_abs_code; lia.
  - vm_compute. discriminate.
  - exact (seed_row_abs qs true Hq).
Qed.

(* Any partial sum in any order: a SIMD lane, a horizontal-add tree, a CUDA
   warp reduction (backends/cuda/matvec.cu, dp4a partials) hold sums of some of
   the products of one row. Every such sum of at most K_max terms x * q with
   |x| <= 127, |q| <= 8 is an exact int32. *)
Theorem seed_any_partial_sum_fits : forall l : list Z,
  Z.of_nat (length l) <= seed_max_row_length ->
  (forall t, In t l -> Z.abs t <= act_max_abs * seed_max_abs_code) ->
  in_int32 (sumZ l).
Proof.
  intros l Hlen Ht. pose proof (sum_bound _ l Ht) as Hb.
  assert (act_max_abs * seed_max_abs_code * Z.of_nat (length l)
          <= act_max_abs * seed_max_abs_code * seed_max_row_length)
    by (apply Z.mul_le_mono_nonneg_l; [unfold act_max_abs, seed_max_abs_code |]; lia).
  unfold in_int32, int32_min, int32_max, act_max_abs, seed_max_abs_code, seed_max_row_length in *.
  lia.
Qed.

(* K_max + 1 overflows in the model the C++ bound is derived in (|q| <= 8 at
   every position): x = 127, q = -8 gives -127 * 8 * 2113666 = -2147484656 < -2^31. *)
Theorem seed_kmax_plus_one_overflows_in_bound_model : exists xs qs,
  Z.of_nat (length qs) = seed_max_row_length + 1 /\
  Forall act_code xs /\ Forall (fun q => Z.abs q <= seed_max_abs_code) qs /\
  ~ in_int32 (dotZ xs qs).
Proof.
  destruct (repeat_witness act_code (fun q => Z.abs q <= seed_max_abs_code) act_max_abs
              (- seed_max_abs_code) (Z.to_nat (seed_max_row_length + 1)))
    as (xs & qs & Hl & Hx & Hq & Hd).
  - unfold act_code, act_max_abs. lia.
  - unfold seed_max_abs_code. lia.
  - rewrite Z2Nat.id in Hd by (unfold seed_max_row_length; lia).
    exists xs, qs. split; [| split; [exact Hx | split; [exact Hq |]]].
    + rewrite Hl. apply Z2Nat.id. unfold seed_max_row_length; lia.
    + rewrite Hd. unfold in_int32, act_max_abs, seed_max_abs_code, seed_max_row_length, int32_min,
                  int32_max. lia.
Qed.

(* ------------------------------------------------------------------------- *)
(* SIMD intermediates.                                                        *)

(* vpmaddubsw: u8 x s8 products summed in adjacent pairs, SATURATED to int16. *)
Definition sat16 (z : Z) : Z := Z.max int16_min (Z.min int16_max z).

(* Every unsigned operand the kernels feed to vpmaddubsw / vpdpbusd is in
   [0, 15]: Q3P5 u (<= 7), v (<= 15), e (<= 1); the seed's unsigned fields
   q4 + 8 (<= 15) and q3 + 4 (<= 7); the seed offset weights 8 and 4. *)
Definition u8_operand (u : Z) : Prop := 0 <= u <= q3p5_max_code4.

Lemma u8_times_act : forall u x, u8_operand u -> act_code x -> Z.abs (u * x) <= 1905.
Proof.
  intros u x Hu Hx. unfold u8_operand, act_code, act_max_abs, q3p5_max_code4 in *.
  rewrite Z.abs_mul. assert (Z.abs u <= 15) by lia. assert (Z.abs x <= 127) by lia.
  assert (Z.abs u * Z.abs x <= 15 * 127) by (apply Z.mul_le_mono_nonneg; lia). lia.
Qed.

(* vpmaddubsw never saturates on these operands: |u1 x1 + u2 x2| <= 3810. *)
Theorem maddubs_never_saturates : forall u1 u2 x1 x2,
  u8_operand u1 -> u8_operand u2 -> act_code x1 -> act_code x2 ->
  sat16 (u1 * x1 + u2 * x2) = u1 * x1 + u2 * x2 /\ Z.abs (u1 * x1 + u2 * x2) <= 3810.
Proof.
  intros u1 u2 x1 x2 H1 H2 H3 H4.
  pose proof (u8_times_act u1 x1 H1 H3). pose proof (u8_times_act u2 x2 H2 H4).
  unfold sat16, int16_min, int16_max. split; lia.
Qed.

(* The seed operands really are in [0, 15]: q + 8 for q4, q + 4 for q3. *)
Lemma seed_unsigned_fields : forall q4 q3, seed_code_even q4 -> seed_code_odd q3 ->
  u8_operand (q4 + 8) /\ u8_operand (q3 + 4).
Proof.
  unfold seed_code_even, seed_code_odd, u8_operand, seed_q4_min, seed_q4_max,
         seed_q3_min, seed_q3_max, q3p5_max_code4. intros; lia.
Qed.

(* vpmaddwd: two int16 pair sums times a weight w16 in {1, 2} (MulAddU8I8 uses 1,
   or 2 for v = 2u) summed into an int32 lane: exact, at most 15240. vpdpbusd: four
   u8 x s8 products plus the lane: the same four products, at most 7620. *)
Theorem maddwd_exact : forall p1 p2 w16, Z.abs p1 <= 3810 -> Z.abs p2 <= 3810 ->
  (w16 = 1 \/ w16 = 2) -> in_int16 p1 /\ in_int16 p2 /\ in_int32 (p1 * w16 + p2 * w16).
Proof.
  intros p1 p2 w16 H1 H2 Hw. unfold in_int16, in_int32, int16_min, int16_max, int32_min, int32_max.
  destruct Hw as [-> | ->]; lia.
Qed.

(* Activation code sums: Q8_A's int16 `sum` field (32 codes) and Q8_R's int32 row sum. *)
Theorem q8a_sum_fits_int16 : forall xs,
  Z.of_nat (length xs) <= q8a_block_size -> Forall act_code xs -> in_int16 (sumZ xs).
Proof.
  intros xs Hl Hx.
  assert (H : Z.abs (sumZ xs) <= act_max_abs * Z.of_nat (length xs)).
  { apply sum_bound. intros t Ht. rewrite Forall_forall in Hx. specialize (Hx t Ht).
    unfold act_code in Hx. lia. }
  unfold in_int16, int16_min, int16_max, act_max_abs, q8a_block_size in *. lia.
Qed.

Theorem q8r_sum_fits_int32 : forall xs,
  Z.of_nat (length xs) <= q8r_max_row_length -> Forall act_code xs ->
  forall k, in_int32 (sumZ (firstn k xs)).
Proof.
  intros xs Hl Hx k.
  assert (H : Z.abs (sumZ (firstn k xs)) <= act_max_abs * Z.of_nat (length (firstn k xs))).
  { apply sum_bound. intros t Ht. rewrite Forall_forall in Hx.
    specialize (Hx t (in_firstn _ _ _ Ht)). unfold act_code in Hx. lia. }
  rewrite firstn_length in H.
  unfold in_int32, int32_min, int32_max, act_max_abs, q8r_max_row_length in *. lia.
Qed.

(* ------------------------------------------------------------------------- *)
(* Q3P5_SEED AVX2 (dot_seed.cc): wrapping int32 lanes.                        *)
(* The kernel dots the UNSIGNED fields q + c (c = 8 at even, 4 at odd i) with *)
(* vpmaddubsw + vpmaddwd into 8 int32 lanes over the whole row, sums the      *)
(* lanes, subtracts corr = sum x_i c_i (OffsetCorrection) and adds the scalar *)
(* tail, all in wrapping int32 / uint32 arithmetic. Lanes may wrap; the       *)
(* claim is that the final value is nevertheless the exact accumulator.       *)

(* Two's complement reading of the low 32 bits of z. *)
Definition wrap32 (z : Z) : Z := (z + 2147483648) mod 4294967296 - 2147483648.

Lemma wrap32_in_int32 : forall z, in_int32 (wrap32 z).
Proof.
  intros z. unfold wrap32, in_int32, int32_min, int32_max.
  pose proof (Z.mod_pos_bound (z + 2147483648) 4294967296). lia.
Qed.

Lemma wrap32_id : forall z, in_int32 z -> wrap32 z = z.
Proof.
  intros z H. unfold in_int32, int32_min, int32_max, wrap32 in *.
  rewrite Z.mod_small by lia. lia.
Qed.

(* Adding an already wrapped value is the same as adding the true one. *)
Lemma wrap32_add_l : forall a t, wrap32 (wrap32 a + t) = wrap32 (a + t).
Proof.
  intros a t. unfold wrap32. f_equal.
  rewrite (Z.mod_eq (a + 2147483648)) by lia.
  replace (a + 2147483648 - 4294967296 * ((a + 2147483648) / 4294967296) - 2147483648 + t
           + 2147483648)
    with (a + t + 2147483648 + (- ((a + 2147483648) / 4294967296)) * 4294967296) by ring.
  apply Z_mod_plus_full.
Qed.

Lemma wrap32_add : forall a b, wrap32 (wrap32 a + wrap32 b) = wrap32 (a + b).
Proof.
  intros a b. rewrite wrap32_add_l, Z.add_comm, wrap32_add_l, Z.add_comm. reflexivity.
Qed.

Lemma wrap32_opp : forall a, wrap32 (- wrap32 a) = wrap32 (- a).
Proof.
  intros a. unfold wrap32. f_equal.
  rewrite (Z.mod_eq (a + 2147483648)) by lia.
  replace (- ((a + 2147483648) - 4294967296 * ((a + 2147483648) / 4294967296) - 2147483648)
           + 2147483648)
    with (- a + 2147483648 + ((a + 2147483648) / 4294967296) * 4294967296) by ring.
  apply Z_mod_plus_full.
Qed.

Lemma wrap32_sub : forall a b, wrap32 (wrap32 a - wrap32 b) = wrap32 (a - b).
Proof.
  intros a b. unfold Z.sub.
  rewrite wrap32_add_l, Z.add_comm, <- (wrap32_add_l (- wrap32 b) a), wrap32_opp,
          wrap32_add_l, Z.add_comm. reflexivity.
Qed.

(* The uint32 casts of the kernel (static_cast<uint32_t>) keep z mod 2^32. *)
Lemma wrap32_uint32 : forall z, wrap32 (z mod 4294967296) = wrap32 z.
Proof. intros z. unfold wrap32. rewrite Zplus_mod_idemp_l. reflexivity. Qed.

(* A wrapping accumulation loop computes the wrapped true sum, in any order of
   terms (each lane, each horizontal add, the tail loop are such loops). *)
Theorem wrapping_sum : forall l a,
  fold_left (fun acc t => wrap32 (acc + t)) l (wrap32 a) = wrap32 (a + sumZ l).
Proof.
  induction l as [| t l IH]; intros a; simpl.
  - rewrite Z.add_0_r. reflexivity.
  - rewrite wrap32_add_l, IH. f_equal. ring.
Qed.

Fixpoint addl (a b : list Z) : list Z :=
  match a, b with
  | x :: a', y :: b' => x + y :: addl a' b'
  | _, _ => []
  end.

Lemma dot_addl : forall xs qs cs, length qs = length cs ->
  dotZ xs (addl qs cs) = dotZ xs qs + dotZ xs cs.
Proof.
  unfold dotZ. induction xs as [| x xs IH]; intros [| q qs] [| c cs] H; simpl in *; try lia.
  rewrite IH by lia. ring.
Qed.

Lemma seed_full_dot_fits : forall xs qs,
  Z.of_nat (length qs) <= seed_max_row_length -> Forall act_code xs -> seed_row true qs ->
  in_int32 (dotZ xs qs).
Proof.
  intros xs qs Hl Hx Hq. rewrite dot_is_prefix. exact (seed_no_int32_overflow xs qs Hl Hx Hq _).
Qed.

(* The seed SIMD kernel's result: wrap32 (S_unsigned - corr) = the exact
   sum_i x_i q_i, for every row length up to K_max, whatever the lanes did. *)
Theorem seed_simd_wrapping_acc_exact : forall xs qs cs,
  length qs = length cs -> Z.of_nat (length qs) <= seed_max_row_length ->
  Forall act_code xs -> seed_row true qs ->
  wrap32 (wrap32 (dotZ xs (addl qs cs)) - wrap32 (dotZ xs cs)) = dotZ xs qs.
Proof.
  intros xs qs cs Hlen Hl Hx Hq.
  rewrite wrap32_sub, dot_addl by exact Hlen.
  replace (dotZ xs qs + dotZ xs cs - dotZ xs cs) with (dotZ xs qs) by ring.
  apply wrap32_id. exact (seed_full_dot_fits xs qs Hl Hx Hq).
Qed.

(* ------------------------------------------------------------------------- *)
(* How conservative the seed's K_max is. The C++ bound charges every position *)
(* |q| <= 8, but odd positions hold q3 in [-4, 3]. The exact worst case of a  *)
(* real seed row of n weights is 127 * cap(n), cap = 8 + 4 + 8 + 4 + ...:     *)
(* real rows stay in int32 up to n = 2818220 (33% past K_max) and the first   *)
(* real row that can overflow has n = 2818221. K_max + 1 = 2113666 overflows  *)
(* only in the |q| <= 8 model (seed_kmax_plus_one_overflows_in_bound_model).  *)

Fixpoint seed_cap (even : bool) (n : nat) : Z :=
  match n with
  | O => 0
  | S n' => (if even then 8 else 4) + seed_cap (negb even) n'
  end.

Lemma seed_cap_nonneg : forall n b, 0 <= seed_cap b n.
Proof.
  induction n as [| n IH]; intros b; [simpl; lia |].
  change (seed_cap b (S n)) with ((if b then 8 else 4) + seed_cap (negb b) n).
  specialize (IH (negb b)). destruct b; lia.
Qed.

Lemma seed_row_dot_bound : forall qs xs b, Forall act_code xs -> seed_row b qs ->
  Z.abs (dotZ xs qs) <= act_max_abs * seed_cap b (length qs).
Proof.
  unfold dotZ. induction qs as [| q qs IH]; intros xs b Hx Hq.
  - destruct xs; simpl; lia.
  - destruct xs as [| x xs]; cbn [products sumZ length seed_cap negb].
    + assert (0 <= seed_cap (negb b) (length qs)) by apply seed_cap_nonneg.
      unfold act_max_abs. destruct b; cbn [negb] in *; lia.
    + inversion Hx as [| x' xs' Hx1 Hxs]; subst. destruct Hq as [Hq1 Hqs].
      specialize (IH xs (negb b) Hxs Hqs).
      assert (Hp : Z.abs (x * q) <= act_max_abs * (if b then 8 else 4)).
      { rewrite Z.abs_mul. unfold act_code, act_max_abs in *.
        destruct b; unfold seed_code_even, seed_code_odd, seed_q4_min, seed_q4_max,
                           seed_q3_min, seed_q3_max in Hq1;
          apply Z.mul_le_mono_nonneg; lia. }
      pose proof (Z.abs_triangle (x * q) (sumZ (products xs qs))). lia.
Qed.

Lemma seed_cap_pairs : forall p,
  seed_cap true (2 * p) = 12 * Z.of_nat p /\ seed_cap false (2 * p) = 12 * Z.of_nat p.
Proof.
  induction p as [| p IH]; [split; reflexivity |].
  replace (2 * S p)%nat with (S (S (2 * p))) by lia.
  destruct IH as [H1 H2]. simpl negb. cbn [seed_cap negb]. rewrite H1, H2. split; lia.
Qed.

Lemma seed_row_firstn : forall qs b k, seed_row b qs -> seed_row b (firstn k qs).
Proof.
  induction qs as [| q qs IH]; intros b [| k] H; simpl in *; auto.
  destruct H as [H1 H2]. split; [exact H1 | apply IH; exact H2].
Qed.

Lemma products_firstn : forall xs qs k,
  firstn k (products xs qs) = products (firstn k xs) (firstn k qs).
Proof.
  induction xs as [| x xs IH]; intros qs k.
  - destruct k; reflexivity.
  - destruct qs as [| q qs]; destruct k as [| k]; simpl; try reflexivity.
    rewrite IH. reflexivity.
Qed.

(* Real seed rows never overflow up to n = 2818220 (every prefix of the scalar loop). *)
Theorem seed_real_rows_fit : forall xs qs,
  Z.of_nat (length qs) <= 2818220 -> Forall act_code xs -> seed_row true qs ->
  forall k, in_int32 (sumZ (firstn k (products xs qs))).
Proof.
  intros xs qs Hl Hx Hq k.
  rewrite products_firstn. fold (dotZ (firstn k xs) (firstn k qs)).
  assert (Hx' : Forall act_code (firstn k xs)).
  { rewrite Forall_forall in *. intros t Ht. apply Hx. eapply in_firstn. exact Ht. }
  pose proof (seed_row_dot_bound (firstn k qs) (firstn k xs) true Hx' (seed_row_firstn qs true k Hq)) as Hb.
  assert (Hle : (length (firstn k qs) <= length qs)%nat) by (rewrite firstn_length; apply Nat.le_min_r).
  assert (Hn : Z.of_nat (length (firstn k qs)) <= 2818220) by lia.
  destruct (Nat.Even_or_Odd (length (firstn k qs))) as [[p Hp] | [p Hp]]; rewrite Hp in Hb, Hn.
  - rewrite (proj1 (seed_cap_pairs p)) in Hb.
    unfold in_int32, int32_min, int32_max, act_max_abs in *. lia.
  - replace (2 * p + 1)%nat with (S (2 * p)) in Hb by lia. cbn [seed_cap negb] in Hb.
    rewrite (proj2 (seed_cap_pairs p)) in Hb.
    unfold in_int32, int32_min, int32_max, act_max_abs in *. lia.
Qed.

Fixpoint seed_extreme (even : bool) (n : nat) : list Z :=
  match n with
  | O => []
  | S n' => (if even then seed_q4_min else seed_q3_min) :: seed_extreme (negb even) n'
  end.

Lemma seed_extreme_row : forall n b, seed_row b (seed_extreme b n).
Proof.
  induction n as [| n IH]; intros b; simpl; [exact I |]. split; [| apply IH].
  destruct b; unfold seed_code_even, seed_code_odd, seed_q4_min, seed_q4_max, seed_q3_min, seed_q3_max; lia.
Qed.

Lemma seed_extreme_length : forall n b, length (seed_extreme b n) = n.
Proof. induction n as [| n IH]; intros b; simpl; [| rewrite IH]; reflexivity. Qed.

Lemma seed_extreme_dot : forall n b,
  dotZ (repeat act_max_abs n) (seed_extreme b n) = - act_max_abs * seed_cap b n.
Proof.
  unfold dotZ. induction n as [| n IH]; intros b; [simpl; lia |].
  cbn [repeat seed_extreme products sumZ seed_cap].
  rewrite IH. destruct b; unfold act_max_abs, seed_q4_min, seed_q3_min; lia.
Qed.

(* The first real seed row length that can overflow: 2818221 = 2 * 1409110 + 1,
   x = 127, q = -8, -4, -8, ...: 127 * (12 * 1409110 + 8) = 2147484656 > 2^31. *)
Lemma seed_real_row_overflow_at : forall p : nat, Z.of_nat p = 1409110 ->
  exists xs qs, Z.of_nat (length qs) = 2818221 /\ Forall act_code xs /\ seed_row true qs /\
  ~ in_int32 (dotZ xs qs).
Proof.
  intros p Hp.
  exists (repeat act_max_abs (S (2 * p))), (seed_extreme true (S (2 * p))).
  split; [| split; [| split]].
  - rewrite seed_extreme_length. rewrite Nat2Z.inj_succ, Nat2Z.inj_mul, Hp. reflexivity.
  - apply Forall_repeat'. unfold act_code, act_max_abs. lia.
  - apply seed_extreme_row.
  - rewrite seed_extreme_dot. cbn [seed_cap negb]. rewrite (proj2 (seed_cap_pairs p)), Hp.
    unfold in_int32, int32_min, int32_max, act_max_abs. lia.
Qed.

(* (Stated through a lemma for a variable p, so the kernel never unfolds a unary
   nat of size 1409110.) *)
Theorem seed_real_row_overflow_witness : exists xs qs,
  Z.of_nat (length qs) = 2818221 /\ Forall act_code xs /\ seed_row true qs /\
  ~ in_int32 (dotZ xs qs).
Proof.
  apply (seed_real_row_overflow_at (Z.to_nat 1409110)).
  rewrite Z2Nat.id; [reflexivity | discriminate].
Qed.
