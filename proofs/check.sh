#!/usr/bin/env bash
# `make proofs` runs this after coqc has compiled every proofs/*.v (proofs/Makefile).
# It fails when
#   1. any .v file contains an escape hatch (Admitted, admit, Axiom(s),
#      Parameter(s), Conjecture) -- even inside a comment, to keep the check simple;
#   2. Print Assumptions of an integer theorem (AssumptionsZ.v) reports anything
#      but "Closed under the global context";
#   3. Print Assumptions of a real-number theorem (AssumptionsR.v) reports an axiom
#      outside the standard library's real-number axioms (ALLOWED_R below).
set -euo pipefail
cd "$(dirname "$0")"
COQC=${COQC:-coqc}
FLAGS=(-Q . Septet)

ALLOWED_R=(
  ClassicalDedekindReals.sig_forall_dec
  ClassicalDedekindReals.sig_not_dec
  FunctionalExtensionality.functional_extensionality_dep
)

fail=0
if grep -nwE 'Admitted|admit|Axiom|Axioms|Parameter|Parameters|Conjecture' ./*.v; then
  echo "proofs: FAIL: the lines above use an unproven step or declare an assumption" >&2
  fail=1
fi

# Names in a Print Assumptions report: the unindented lines other than the headers.
axiom_names() { grep -vE '^(Axioms:|Closed under the global context|[[:space:]]|$)' || true; }

outz=$("$COQC" "${FLAGS[@]}" AssumptionsZ.v)
nz=$(grep -c 'Print Assumptions' AssumptionsZ.v)
closed=$(grep -c '^Closed under the global context' <<<"$outz" || true)
if [ "$closed" -ne "$nz" ]; then
  echo "proofs: FAIL: $((nz - closed)) of $nz integer theorems depend on axioms:" >&2
  axiom_names <<<"$outz" | sort -u >&2
  fail=1
fi

outr=$("$COQC" "${FLAGS[@]}" AssumptionsR.v)
used=$(axiom_names <<<"$outr" | sort -u)
for a in $used; do
  ok=0
  for b in "${ALLOWED_R[@]}"; do [ "$a" = "$b" ] && ok=1; done
  if [ "$ok" -ne 1 ]; then
    echo "proofs: FAIL: a real-number theorem depends on '$a', not a standard-library real axiom" >&2
    fail=1
  fi
done

if [ "$fail" -ne 0 ]; then exit 1; fi
echo "proofs: OK: $(ls ./*.v | wc -l) files checked; $nz integer theorems closed (no axioms);" \
     "$(grep -c 'Print Assumptions' AssumptionsR.v) real theorems use only: ${used//$'\n'/ }"
