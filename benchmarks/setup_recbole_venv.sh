#!/usr/bin/env bash
# Create .venv-recbole: RecBole 1.2.1 in its own venv (its dependency pins clash with kgrec's).
# Usage: bash benchmarks/setup_recbole_venv.sh [VENV_DIR]   (default .venv-recbole)
# torch is the same CPU build as kgrec's; recbole itself is installed with --no-deps because its
# pins would pull another torch. The shims it needs on today's torch/scipy live in
# benchmarks/_recbole_runner.py (stub `ray`, torch.load weights_only=False, dok_matrix._update, and a
# stand-in for `dgl` for KGAT).
set -euo pipefail
VENV="${1:-.venv-recbole}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0" "numpy<2" "pandas<2.3" "scipy<1.14" \
  psutil colorlog colorama tabulate texttable thop pyyaml scikit-learn tensorboard plotly tqdm
"$VENV/bin/python" -m pip install -q --no-deps "recbole==1.2.1"
"$VENV/bin/python" -c "import recbole, torch, numpy, scipy; print('recbole', recbole.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
