(* quantization_error_bound: the per-weight error the Q3P5 and Q3P5_SEED
   encoders guarantee, over the reals.

   What the code does (src/quant/quant_util.h RoundClamp, src/quant/affine_fit.cc
   NearestAffineCode, src/quant/q3p5.cc Q3P5NearestCode / Q3P5EncodeBlock /
   Q3P5DequantizeRow, src/quant/q3p5_seed.cc Q3P5SeedNearestCode /
   Q3P5SeedDequantizeRow):
   * code = clamp(nearbyint(t), lo, hi): nearbyint returns a nearest integer of t
     (ties to even; the tie rule does not matter for any bound below, so we only
     assume |k - t| <= 1/2), then clamping to the code range;
   * Q3P5: t = (w - m) / step, step = d (codes u in [0, 7]) or d / 2 (sub-block
     sel, codes v in [0, 15]); decoded value m + h * v with h = d / 2, v = 2u or v;
     d and m are the STORED (fp16-rounded) header values: Q3P5EncodeBlock
     recomputes every code from Q3P5DecodeD / Q3P5DecodeM of the stored fields;
   * Q3P5_SEED: t = w / scale - offset, codes q4 in [-8, 7] at even positions and
     q3 in [-4, 3] at odd ones; decoded value scale * (q + offset); scale and
     offset are stored as fp32 exactly as used (no rounding of parameters).
   The main theorems are in exact real arithmetic with those stored values; a
   second Q3P5 theorem adds binary32 rounding of the encoder's two operations and
   of the decoder's addition (standard model, relative error <= 2^-24 each). *)

From Coq Require Import ZArith Reals Lra Lia.
From Septet Require Import Params.
Open Scope R_scope.

(* ------------------------------------------------------------------------- *)
(* Rounding to nearest, then clamping (RoundClamp).                           *)

Definition clampZ (lo hi k : Z) : Z := Z.max lo (Z.min hi k).

(* k is a nearest integer of t, as std::nearbyint returns in the default mode. *)
Definition nearest (t : R) (k : Z) : Prop := Rabs (IZR k - t) <= 1 / 2.

Lemma clamp_in_range : forall lo hi k, (lo <= hi)%Z ->
  (lo <= clampZ lo hi k <= hi)%Z.
Proof. intros; unfold clampZ; lia. Qed.

(* Clamping k onto an interval that contains a never moves it away from a. *)
Lemma clamp_closer : forall (lo hi k : Z) (a : R), (lo <= hi)%Z -> IZR lo <= a <= IZR hi ->
  Rabs (a - IZR (clampZ lo hi k)) <= Rabs (a - IZR k).
Proof.
  intros lo hi k a Hlh Ha. unfold clampZ.
  destruct (Z.le_gt_cases k hi) as [Hk1 | Hk1]; destruct (Z.le_gt_cases lo k) as [Hk2 | Hk2].
  - rewrite Z.min_r, Z.max_r by lia. apply Rle_refl.
  - rewrite Z.min_r, Z.max_l by lia. apply IZR_lt in Hk2.
    unfold Rabs; repeat destruct Rcase_abs; lra.
  - rewrite Z.min_l, Z.max_r by lia. apply IZR_lt in Hk1.
    unfold Rabs; repeat destruct Rcase_abs; lra.
  - lia.
Qed.

(* Inside the code range: the coded value is within 1/2 step. *)
Theorem round_clamp_error : forall (lo hi k : Z) (t : R), (lo <= hi)%Z ->
  IZR lo <= t <= IZR hi -> nearest t k -> Rabs (t - IZR (clampZ lo hi k)) <= 1 / 2.
Proof.
  intros lo hi k t Hlh Ht Hk. unfold nearest in Hk.
  rewrite Rabs_minus_sym in Hk.
  eapply Rle_trans; [apply clamp_closer; assumption | exact Hk].
Qed.

(* Below / above the code range: the code is the end of the range. *)
Lemma round_clamp_below : forall (lo hi k : Z) (t : R), (lo <= hi)%Z ->
  t < IZR lo -> nearest t k -> clampZ lo hi k = lo.
Proof.
  intros lo hi k t Hlh Ht Hk. unfold nearest in Hk.
  assert (H : IZR k < IZR (lo + 1)).
  { rewrite plus_IZR. unfold Rabs in Hk; destruct Rcase_abs; lra. }
  apply lt_IZR in H. unfold clampZ. lia.
Qed.

Lemma round_clamp_above : forall (lo hi k : Z) (t : R), (lo <= hi)%Z ->
  IZR hi < t -> nearest t k -> clampZ lo hi k = hi.
Proof.
  intros lo hi k t Hlh Ht Hk. unfold nearest in Hk.
  assert (H : IZR (hi - 1) < IZR k).
  { rewrite minus_IZR. unfold Rabs in Hk; destruct Rcase_abs; lra. }
  apply lt_IZR in H. unfold clampZ. lia.
Qed.

(* ------------------------------------------------------------------------- *)
(* Q3P5.                                                                       *)

(* Step and largest code of a sub-block: the upgraded one (sel) has step d/2
   and codes v in [0, 15]; the others step d and codes u in [0, 7]. *)
Definition q3p5_step (d : R) (upgraded : bool) : R := if upgraded then d / 2 else d.
Definition q3p5_max_code (upgraded : bool) : Z :=
  if upgraded then q3p5_max_code4 else q3p5_max_code3.

(* Q3P5NearestCode for d > 0, exact arithmetic: clamp(nearbyint((w - m)/step), 0, C). *)
Definition q3p5_code_of (upgraded : bool) (k : Z) : Z := clampZ 0 (q3p5_max_code upgraded) k.

(* Q3P5DequantizeRow: m + h * v, h = d / 2, v = 2u (or v itself in sub-block sel). *)
Definition q3p5_dequant (d m : R) (upgraded : bool) (c : Z) : R :=
  m + (d / 2) * IZR (if upgraded then c else (2 * c)%Z).

Lemma q3p5_dequant_step : forall d m upgraded c,
  q3p5_dequant d m upgraded c = m + q3p5_step d upgraded * IZR c.
Proof.
  intros d m [|] c; unfold q3p5_dequant, q3p5_step; [| rewrite mult_IZR]; lra.
Qed.

Lemma q3p5_max_code_nonneg : forall upgraded, (0 <= q3p5_max_code upgraded)%Z.
Proof. intros [|]; unfold q3p5_max_code, q3p5_max_code3, q3p5_max_code4; lia. Qed.

Lemma q3p5_step_pos : forall d upgraded, 0 < d -> 0 < q3p5_step d upgraded.
Proof. intros d [|] H; unfold q3p5_step; lra. Qed.

(* Error of the coded value in units of the step. *)
Lemma q3p5_error_scaled : forall d m w upgraded c, 0 < d ->
  Rabs (w - q3p5_dequant d m upgraded c)
  = q3p5_step d upgraded * Rabs ((w - m) / q3p5_step d upgraded - IZR c).
Proof.
  intros d m w upgraded c Hd. pose proof (q3p5_step_pos d upgraded Hd) as Hs.
  rewrite q3p5_dequant_step.
  replace (w - (m + q3p5_step d upgraded * IZR c))
    with (q3p5_step d upgraded * ((w - m) / q3p5_step d upgraded - IZR c)) by (field; lra).
  rewrite Rabs_mult, (Rabs_pos_eq (q3p5_step d upgraded)) by lra. reflexivity.
Qed.

(* THE THEOREM (Q3P5). With the stored step d > 0 and offset m, a weight w in the
   sub-block's representable range [m, m + C * step] is decoded within half a
   step: |w - deq| <= step / 2 (d / 2 for u-codes, d / 4 in sub-block sel). *)
Theorem q3p5_quantization_error_bound : forall (d m w : R) (upgraded : bool) (k : Z),
  0 < d ->
  nearest ((w - m) / q3p5_step d upgraded) k ->
  m <= w <= m + q3p5_step d upgraded * IZR (q3p5_max_code upgraded) ->
  Rabs (w - q3p5_dequant d m upgraded (q3p5_code_of upgraded k)) <= q3p5_step d upgraded / 2.
Proof.
  intros d m w upgraded k Hd Hk Hw.
  pose proof (q3p5_step_pos d upgraded Hd) as Hs.
  rewrite q3p5_error_scaled by exact Hd.
  assert (Ha : IZR 0 <= (w - m) / q3p5_step d upgraded <= IZR (q3p5_max_code upgraded)).
  { split.
    - apply Rmult_le_pos; [lra | left; apply Rinv_0_lt_compat; exact Hs].
    - apply (Rmult_le_reg_l (q3p5_step d upgraded)); [exact Hs |].
      replace (q3p5_step d upgraded * ((w - m) / q3p5_step d upgraded)) with (w - m) by (field; lra).
      lra. }
  pose proof (round_clamp_error 0 (q3p5_max_code upgraded) k _ (q3p5_max_code_nonneg upgraded) Ha Hk).
  unfold q3p5_code_of.
  replace (q3p5_step d upgraded / 2) with (q3p5_step d upgraded * (1 / 2)) by lra.
  apply Rmult_le_compat_l; lra.
Qed.

(* The whole block: [m, m + 7d] lies in every sub-block's range (the upgraded one
   reaches m + 7.5d), so every weight there is decoded within d / 2. *)
Corollary q3p5_block_error_bound : forall (d m w : R) (upgraded : bool) (k : Z),
  0 < d ->
  nearest ((w - m) / q3p5_step d upgraded) k ->
  m <= w <= m + d * IZR q3p5_max_code3 ->
  Rabs (w - q3p5_dequant d m upgraded (q3p5_code_of upgraded k)) <= d / 2.
Proof.
  intros d m w upgraded k Hd Hk Hw.
  assert (Hr : m <= w <= m + q3p5_step d upgraded * IZR (q3p5_max_code upgraded)).
  { destruct upgraded; unfold q3p5_step, q3p5_max_code, q3p5_max_code3, q3p5_max_code4 in *;
      simpl in *; lra. }
  pose proof (q3p5_quantization_error_bound d m w upgraded k Hd Hk Hr).
  destruct upgraded; unfold q3p5_step in *; lra.
Qed.

(* Clamping at the range ends: below m the code is 0 and the error is m - w;
   above m + C * step the code is C and the error is w - (m + C * step). *)
Theorem q3p5_clamp_low : forall (d m w : R) (upgraded : bool) (k : Z),
  0 < d -> nearest ((w - m) / q3p5_step d upgraded) k -> w < m ->
  q3p5_code_of upgraded k = 0%Z /\ Rabs (w - q3p5_dequant d m upgraded (q3p5_code_of upgraded k)) = m - w.
Proof.
  intros d m w upgraded k Hd Hk Hw. pose proof (q3p5_step_pos d upgraded Hd) as Hs.
  assert (Hc : q3p5_code_of upgraded k = 0%Z).
  { apply (round_clamp_below 0 (q3p5_max_code upgraded) k ((w - m) / q3p5_step d upgraded));
      [apply q3p5_max_code_nonneg | | exact Hk].
    unfold Rdiv. replace (IZR 0) with (0 * / q3p5_step d upgraded) by (simpl; lra).
    apply Rmult_lt_compat_r; [apply Rinv_0_lt_compat |]; lra. }
  split; [exact Hc |]. rewrite Hc, q3p5_dequant_step.
  rewrite Rabs_left by (simpl; lra). simpl. lra.
Qed.

Theorem q3p5_clamp_high : forall (d m w : R) (upgraded : bool) (k : Z),
  0 < d -> nearest ((w - m) / q3p5_step d upgraded) k ->
  m + q3p5_step d upgraded * IZR (q3p5_max_code upgraded) < w ->
  q3p5_code_of upgraded k = q3p5_max_code upgraded /\
  Rabs (w - q3p5_dequant d m upgraded (q3p5_code_of upgraded k))
  = w - (m + q3p5_step d upgraded * IZR (q3p5_max_code upgraded)).
Proof.
  intros d m w upgraded k Hd Hk Hw. pose proof (q3p5_step_pos d upgraded Hd) as Hs.
  assert (Hc : q3p5_code_of upgraded k = q3p5_max_code upgraded).
  { apply (round_clamp_above 0 (q3p5_max_code upgraded) k ((w - m) / q3p5_step d upgraded));
      [apply q3p5_max_code_nonneg | | exact Hk].
    apply (Rmult_lt_reg_l (q3p5_step d upgraded)); [exact Hs |].
    replace (q3p5_step d upgraded * ((w - m) / q3p5_step d upgraded)) with (w - m) by (field; lra).
    lra. }
  split; [exact Hc |]. rewrite Hc, q3p5_dequant_step.
  rewrite Rabs_pos_eq by lra. reflexivity.
Qed.

(* What the stored (rounded) step does to the bound. The bound above is in terms
   of the STORED d, because Q3P5EncodeBlock recomputes the codes from the stored
   fields (tested byte for byte by Q3P5.QuantizerUsesStoredParams). In terms of
   the unrounded step d0 the quantizer chose, fp16 round-to-nearest in the normal
   range gives |d - d0| <= d0 * 2^-11, so the bound grows by that factor only: *)
Theorem q3p5_stored_step_bound : forall d0 d, 0 < d0 -> Rabs (d - d0) <= d0 / 2048 ->
  d / 2 <= d0 / 2 * (1 + / 2048).
Proof. intros d0 d H0 H. unfold Rabs in H; destruct Rcase_abs; lra. Qed.

(* Had the codes been chosen with the unrounded (d0, m0) and decoded with the
   stored (d, m) instead, the error could grow by |m - m0| + C * |d - d0|:
   the reason the encoder recomputes the codes with the stored values. *)
Theorem q3p5_unrecomputed_codes_cost : forall d0 m0 d m w (upgraded : bool) (c : Z),
  (0 <= c <= q3p5_max_code upgraded)%Z ->
  Rabs (w - q3p5_dequant d m upgraded c)
  <= Rabs (w - q3p5_dequant d0 m0 upgraded c) + Rabs (m - m0)
     + IZR (q3p5_max_code upgraded) * Rabs (q3p5_step d upgraded - q3p5_step d0 upgraded).
Proof.
  intros d0 m0 d m w upgraded c Hc.
  rewrite !q3p5_dequant_step.
  assert (Hc' : 0 <= IZR c <= IZR (q3p5_max_code upgraded)) by (split; apply IZR_le; lia).
  replace (w - (m + q3p5_step d upgraded * IZR c))
    with ((w - (m0 + q3p5_step d0 upgraded * IZR c)) - (m - m0)
          - IZR c * (q3p5_step d upgraded - q3p5_step d0 upgraded)) by ring.
  set (e := w - (m0 + q3p5_step d0 upgraded * IZR c)).
  set (s := q3p5_step d upgraded - q3p5_step d0 upgraded).
  assert (Hs : Rabs (IZR c * s) <= IZR (q3p5_max_code upgraded) * Rabs s).
  { rewrite Rabs_mult, (Rabs_pos_eq (IZR c)) by lra.
    apply Rmult_le_compat_r; [apply Rabs_pos | lra]. }
  pose proof (Rabs_triang (e - (m - m0)) (- (IZR c * s))).
  pose proof (Rabs_triang e (- (m - m0))).
  rewrite Rabs_Ropp in *.
  replace (e - (m - m0) - IZR c * s) with (e - (m - m0) + - (IZR c * s)) by ring.
  replace (e - (m - m0)) with (e + - (m - m0)) in * by ring.
  lra.
Qed.

(* Binary32 rounding (standard model): the encoder computes
   t = fl(fl(w - m) / step) and the decoder fl(m + h * v) (h * v is exact: d has
   11 significant bits, v at most 4). Each rounding has relative error at most
   u = 2^-24 when its result is a normal float. Then, inside the range,
   |w - deq| <= step/2 + C * step * (2u + u^2) + u * |m + step * c|. *)
Definition u32 : R := / 16777216.

Lemma rel2 : forall d1 d2, Rabs d1 <= u32 -> Rabs d2 <= u32 ->
  Rabs ((1 + d1) * (1 + d2) - 1) <= 2 * u32 + u32 * u32.
Proof.
  intros d1 d2 H1 H2.
  replace ((1 + d1) * (1 + d2) - 1) with (d1 + d2 + d1 * d2) by ring.
  pose proof (Rabs_triang (d1 + d2) (d1 * d2)). pose proof (Rabs_triang d1 d2).
  assert (Rabs (d1 * d2) <= u32 * u32).
  { rewrite Rabs_mult. apply Rmult_le_compat; try apply Rabs_pos; assumption. }
  lra.
Qed.

Theorem q3p5_quantization_error_bound_float :
  forall (d m w : R) (upgraded : bool) (k : Z) (d1 d2 d3 : R),
  0 < d -> Rabs d1 <= u32 -> Rabs d2 <= u32 -> Rabs d3 <= u32 ->
  nearest ((w - m) * (1 + d1) / q3p5_step d upgraded * (1 + d2)) k ->
  m <= w <= m + q3p5_step d upgraded * IZR (q3p5_max_code upgraded) ->
  Rabs (w - q3p5_dequant d m upgraded (q3p5_code_of upgraded k) * (1 + d3))
  <= q3p5_step d upgraded / 2
     + IZR (q3p5_max_code upgraded) * q3p5_step d upgraded * (2 * u32 + u32 * u32)
     + u32 * Rabs (q3p5_dequant d m upgraded (q3p5_code_of upgraded k)).
Proof.
  intros d m w upgraded k d1 d2 d3 Hd H1 H2 H3 Hk Hw.
  set (s := q3p5_step d upgraded). set (C := IZR (q3p5_max_code upgraded)).
  set (c := q3p5_code_of upgraded k). set (deq := q3p5_dequant d m upgraded c).
  assert (Hs : 0 < s) by exact (q3p5_step_pos d upgraded Hd).
  set (a := (w - m) / s).
  set (t := (w - m) * (1 + d1) / s * (1 + d2)).
  assert (Ha : IZR 0 <= a <= C).
  { unfold a. split.
    - apply Rmult_le_pos; [simpl in *; lra | left; apply Rinv_0_lt_compat; exact Hs].
    - apply (Rmult_le_reg_l s); [exact Hs |].
      replace (s * ((w - m) / s)) with (w - m) by (field; lra). unfold C. fold s in Hw. lra. }
  (* |t - a| <= C (2u + u^2) *)
  assert (Hta : Rabs (t - a) <= C * (2 * u32 + u32 * u32)).
  { replace (t - a) with (a * ((1 + d1) * (1 + d2) - 1)) by (unfold t, a; field; lra).
    rewrite Rabs_mult, (Rabs_pos_eq a) by (simpl in Ha; lra).
    apply Rmult_le_compat; [simpl in Ha; lra | apply Rabs_pos | lra | apply rel2; assumption]. }
  (* |a - c| <= |a - k| <= |a - t| + |t - k| *)
  assert (Hac : Rabs (a - IZR c) <= 1 / 2 + C * (2 * u32 + u32 * u32)).
  { eapply Rle_trans.
    - apply (clamp_closer 0 (q3p5_max_code upgraded) k a (q3p5_max_code_nonneg upgraded)). exact Ha.
    - replace (a - IZR k) with ((a - t) + (t - IZR k)) by ring.
      eapply Rle_trans; [apply Rabs_triang |].
      change (Rabs (IZR k - t) <= 1 / 2) in Hk. rewrite Rabs_minus_sym in Hk.
      rewrite Rabs_minus_sym in Hta. lra. }
  (* exact decode error, then the decoder's rounding *)
  assert (Hex : Rabs (w - deq) = s * Rabs (a - IZR c)).
  { unfold deq, s, a. apply q3p5_error_scaled. exact Hd. }
  replace (w - deq * (1 + d3)) with ((w - deq) + - (deq * d3)) by ring.
  eapply Rle_trans; [apply Rabs_triang |].
  rewrite Rabs_Ropp, Rabs_mult, Hex.
  assert (Rabs deq * Rabs d3 <= u32 * Rabs deq).
  { rewrite Rmult_comm. apply Rmult_le_compat_r; [apply Rabs_pos | exact H3]. }
  assert (s * Rabs (a - IZR c) <= s * (1 / 2 + C * (2 * u32 + u32 * u32)))
    by (apply Rmult_le_compat_l; lra).
  lra.
Qed.

(* ------------------------------------------------------------------------- *)
(* Q3P5_SEED.                                                                  *)

(* Code range by position: even -> q4 in [-8, 7], odd -> q3 in [-4, 3]. *)
Definition seed_lo (odd : bool) : Z := if odd then seed_q3_min else seed_q4_min.
Definition seed_hi (odd : bool) : Z := if odd then seed_q3_max else seed_q4_max.

Lemma seed_lo_le_hi : forall odd, (seed_lo odd <= seed_hi odd)%Z.
Proof. intros [|]; unfold seed_lo, seed_hi, seed_q3_min, seed_q3_max, seed_q4_min, seed_q4_max; lia. Qed.

(* Q3P5SeedNearestCode (scale > 0): clamp(nearbyint(w / scale - offset), lo, hi). *)
Definition seed_code_of (odd : bool) (k : Z) : Z := clampZ (seed_lo odd) (seed_hi odd) k.

(* Q3P5SeedDequantizeRow: scale * (q + offset). *)
Definition seed_dequant (scale offset : R) (q : Z) : R := scale * (IZR q + offset).

Lemma seed_error_scaled : forall scale offset w q, 0 < scale ->
  Rabs (w - seed_dequant scale offset q) = scale * Rabs ((w / scale - offset) - IZR q).
Proof.
  intros scale offset w q Hs. unfold seed_dequant.
  replace (w - scale * (IZR q + offset)) with (scale * ((w / scale - offset) - IZR q)) by (field; lra).
  rewrite Rabs_mult, (Rabs_pos_eq scale) by lra. reflexivity.
Qed.

Lemma seed_range_scaled : forall scale offset w (z : Z), 0 < scale ->
  (scale * (IZR z + offset) <= w <-> IZR z <= w / scale - offset) /\
  (w <= scale * (IZR z + offset) <-> w / scale - offset <= IZR z).
Proof.
  intros scale offset w z Hs.
  assert (Hw : w = scale * (w / scale)) by (field; lra).
  split; split; intros H.
  - apply (Rmult_le_reg_l scale); [exact Hs |]. lra.
  - apply (Rmult_le_compat_l scale) in H; lra.
  - apply (Rmult_le_reg_l scale); [exact Hs |]. lra.
  - apply (Rmult_le_compat_l scale) in H; lra.
Qed.

(* THE THEOREM (Q3P5_SEED). With the stored fp32 scale > 0 and offset, a weight
   inside its position's range scale * ([lo, hi] + offset) is decoded within
   scale / 2. The odd positions' range is half the even positions'. *)
Theorem seed_quantization_error_bound : forall (scale offset w : R) (odd : bool) (k : Z),
  0 < scale ->
  nearest (w / scale - offset) k ->
  scale * (IZR (seed_lo odd) + offset) <= w <= scale * (IZR (seed_hi odd) + offset) ->
  Rabs (w - seed_dequant scale offset (seed_code_of odd k)) <= scale / 2.
Proof.
  intros scale offset w odd k Hs Hk [Hlo Hhi].
  rewrite seed_error_scaled by exact Hs.
  apply (proj1 (proj1 (seed_range_scaled scale offset w _ Hs))) in Hlo.
  apply (proj1 (proj2 (seed_range_scaled scale offset w _ Hs))) in Hhi.
  pose proof (round_clamp_error _ _ k _ (seed_lo_le_hi odd) (conj Hlo Hhi) Hk).
  unfold seed_code_of.
  replace (scale / 2) with (scale * (1 / 2)) by lra.
  apply Rmult_le_compat_l; lra.
Qed.

(* Clamping (the seed's design): outside its range a weight takes the nearer
   end code, and its error is exactly the distance to that end. *)
Theorem seed_clamp_low : forall (scale offset w : R) (odd : bool) (k : Z),
  0 < scale -> nearest (w / scale - offset) k ->
  w < scale * (IZR (seed_lo odd) + offset) ->
  seed_code_of odd k = seed_lo odd /\
  Rabs (w - seed_dequant scale offset (seed_code_of odd k))
  = scale * (IZR (seed_lo odd) + offset) - w.
Proof.
  intros scale offset w odd k Hs Hk Hw.
  assert (Hc : seed_code_of odd k = seed_lo odd).
  { apply (round_clamp_below _ (seed_hi odd) k (w / scale - offset) (seed_lo_le_hi odd)); [| exact Hk].
    destruct (Rlt_le_dec (w / scale - offset) (IZR (seed_lo odd))) as [H | H]; [exact H |].
    apply (proj2 (proj1 (seed_range_scaled scale offset w _ Hs))) in H. lra. }
  split; [exact Hc |]. rewrite Hc. unfold seed_dequant.
  rewrite Rabs_left by lra. ring.
Qed.

Theorem seed_clamp_high : forall (scale offset w : R) (odd : bool) (k : Z),
  0 < scale -> nearest (w / scale - offset) k ->
  scale * (IZR (seed_hi odd) + offset) < w ->
  seed_code_of odd k = seed_hi odd /\
  Rabs (w - seed_dequant scale offset (seed_code_of odd k))
  = w - scale * (IZR (seed_hi odd) + offset).
Proof.
  intros scale offset w odd k Hs Hk Hw.
  assert (Hc : seed_code_of odd k = seed_hi odd).
  { apply (round_clamp_above (seed_lo odd) _ k (w / scale - offset) (seed_lo_le_hi odd)); [| exact Hk].
    destruct (Rlt_le_dec (IZR (seed_hi odd)) (w / scale - offset)) as [H | H]; [exact H |].
    apply (proj2 (proj2 (seed_range_scaled scale offset w _ Hs))) in H. lra. }
  split; [exact Hc |]. rewrite Hc. unfold seed_dequant.
  rewrite Rabs_pos_eq by lra. reflexivity.
Qed.
