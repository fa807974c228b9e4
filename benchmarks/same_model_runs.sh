#!/usr/bin/env bash
# Train, evaluate and tag the comparison models with the code of a checkout, one process at a time,
# on one thread, so that two checkouts (before and after a refactoring) can be compared exactly:
#   bash benchmarks/same_model_runs.sh CHECKOUT OUTPUT_DIR [conll]
# then, for each of sample glove pos sgd (and conll): python benchmarks/same_model.py A/NAME B/NAME,
# and cmp the NAME.eval.json / .pred / .tag.* files (they name their model directory: compare with it
# replaced). "conll" adds one epoch of CoNLL-2003 with --preset ner (needs ../shared/data).
set -euo pipefail
REPO=$1; OUT=$(realpath -m "$2"); mkdir -p "$OUT"
cd $REPO
T="python -m bilstm_tagger"
S="Maria Lopez , chief executive of Nordwind Bank , said in Berlin on Monday that profits rose 5 percent ."
run() { name=$1; shift; test=$1; shift
  $T train "$@" --output $OUT/$name --overwrite --threads 1 > $OUT/$name.train.log 2>&1
  $T evaluate $OUT/$name $test --json --output-predictions $OUT/$name.pred --threads 1 > $OUT/$name.eval.json
  { echo "$S"; echo; echo "Anna Berg visited Oslo ."; } | $T tag $OUT/$name --format jsonl > $OUT/$name.tag.jsonl
  { echo "$S"; echo; echo "Anna Berg visited Oslo ."; } | $T tag $OUT/$name --format inline > $OUT/$name.tag.inline
  $T tag $OUT/$name --input $test --input-format ${FMT:-conll} --format conll > $OUT/$name.tag.conll
}
run sample data/ner/test.txt data/ner/train.txt --dev data/ner/dev.txt --max-epochs 50 --patience 10
run glove data/ner/test.txt data/ner/train.txt --dev data/ner/dev.txt --max-epochs 8 --embeddings glove-6b-50d
FMT=conllu run pos data/pos/dev.conllu data/pos/train.conllu --dev data/pos/dev.conllu --preset pos --max-epochs 4
run sgd data/ner/test.txt data/ner/train.txt --dev data/ner/dev.txt --preset ner --max-epochs 6 --embeddings none --tag-scheme iob2
if [ "${3:-}" = conll ]; then
  run conll ../shared/data/conll2003/eng.testb ../shared/data/conll2003/eng.train --dev ../shared/data/conll2003/eng.testa --preset ner --max-epochs 1
fi
echo "models and outputs in $OUT"
