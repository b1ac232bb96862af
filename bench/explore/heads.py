"""Feature exploration for issue 18: other heads on the runner's features, as a cross-check outside the runner.

Not a benchmark and not part of the toolchain: it needs Python 3 with numpy and scikit-learn (Debian's
python3-sklearn), which the project does not install. It reads bench/explore/extract.ts's output
(.bench-out/explore/<EXPLORE_FILE>.{bin,json}) and scores heads by repeated stratified 5-fold CV over every
image (80% training per fold, views orig + flip for training, probabilities averaged over both at test time),
with scikit-learn's own folds (StratifiedKFold, seeds 100..), so its rows compare with each other, not fold by
fold with bench:head's.

The logistic rows solve the runner's objective, (1/n) sum_i w_i CE_i + l2 ||W||^2 on standardised features with
balanced class weights (so C = 1 / (2 l2 n)), exactly: an L2-penalised linear model depends on the rows only
through their Gram matrix, so it is fitted on the n row-space coordinates (eigendecomposition of Z Z^T) instead
of the d features, the runner's own trick (logreg.ts).

    /usr/bin/python3 bench/explore/heads.py          # EXPLORE_FILE (pools-224), BENCH_REPEATS (4)
"""

import json
import os
import warnings

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

warnings.filterwarnings("ignore")
DIR = os.path.join(os.path.dirname(__file__), "../../.bench-out/explore")
FILE = os.environ.get("EXPLORE_FILE", "pools-224")
REPEATS = int(os.environ.get("BENCH_REPEATS", "4"))

meta = json.load(open(os.path.join(DIR, FILE + ".json")))
total = sum(o["dims"][0] for o in meta["outputs"])
views = len(meta["viewIds"])
images = len(meta["images"])
raw = np.fromfile(os.path.join(DIR, FILE + ".bin"), dtype=np.float32).reshape(images, views, total)
labels = np.array([img["label"] for img in meta["images"]])
offsets, at = {}, 0
for out in meta["outputs"]:
    offsets[out["name"]] = (at, out["dims"][0])
    at += out["dims"][0]

STAGE_ENDS = [21, 39, 48]  # the runner's conv3, conv4, conv5
BLOCKS_3_5 = [12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48]


def blocks(pooling, ends):
    """The pooled outputs `<pooling>:activation_<n>`, as (images, views, dim) arrays."""
    out = []
    for n in ends:
        start, dim = offsets[f"{pooling}:activation_{n}"]
        out.append(raw[:, :, start : start + dim])
    return out


def exact_logistic(l2, class_weight="balanced"):
    def fit_predict(z, y, held):
        n = len(y)
        eigenvalues, u = np.linalg.eigh(z @ z.T)
        keep = eigenvalues > 1e-8 * eigenvalues.max()
        u, s = u[:, keep], np.sqrt(eigenvalues[keep])
        head = LogisticRegression(C=1 / (2 * l2 * n), class_weight=class_weight, max_iter=5000, tol=1e-7)
        head.fit(u * s, y)
        return [head.predict_proba(((view @ z.T) @ u) / s) for view in held]

    return fit_predict


def sklearn_head(make):
    def fit_predict(z, y, held):
        head = make()
        head.fit(z, y)
        return [head.predict_proba(view) for view in held]

    return fit_predict


def block_weights(parts, weights):
    """A transform scaling each block's standardised columns by its weight (a heavier block is penalised less)."""
    w = np.concatenate([np.full(p.shape[2], wt) for p, wt in zip(parts, weights)])
    return lambda m: m * w


def to_one_length(m):
    """A transform scaling each standardised row to the same length (cosine geometry)."""
    return m / np.linalg.norm(m, axis=-1, keepdims=True) * np.sqrt(m.shape[-1])


def score(name, parts, fit_predict, transform=lambda m: m):
    """`transform` applies to the standardised training and held-out rows alike."""
    x = np.concatenate(parts, axis=2).astype(np.float64)
    d = x.shape[2]
    probs = np.zeros((REPEATS, images, len(meta["classNames"])))
    for r in range(REPEATS):
        folds = StratifiedKFold(5, shuffle=True, random_state=100 + r)
        for train, test in folds.split(np.zeros(images), labels):
            rows = x[train].reshape(-1, d)
            mean, sd = rows.mean(0), rows.std(0) + 1e-6
            z = transform((rows - mean) / sd)
            held = [transform((x[test, v] - mean) / sd) for v in range(views)]
            y = np.repeat(labels[train], views)
            probs[r, test] = np.mean(fit_predict(z, y, held), axis=0)
    accuracy = [(p.argmax(1) == labels).mean() for p in probs]
    auc = np.mean([roc_auc_score(labels, p, multi_class="ovr", average="macro") for p in probs])
    loss = np.mean([log_loss(labels, p) for p in probs])
    spread = f"{min(accuracy):.3f}-{max(accuracy):.3f}"
    print(f"| {name} | {np.mean(accuracy):.3f} ({spread}) | {auc:.3f} | {loss:.3f} |", flush=True)


print(f"{FILE}, {REPEATS} repeat(s) x 5 folds (StratifiedKFold seeds 100..), {images} images")
print("| head (features: mean of the stage ends unless named) | accuracy (range over repeats) | macro AUC | log loss |")
print("| --- | --- | --- | --- |")
stage_ends = blocks("mean", STAGE_ENDS)
for l2 in (0.1, 0.03):
    score(f"exact logistic, L2 {l2} (the runner's head)", stage_ends, exact_logistic(l2))
for l2 in (0.1, 0.03):
    score(f"exact logistic, L2 {l2}, no class weights", stage_ends, exact_logistic(l2, None))
for weights in ((2, 1, 1), (1, 2, 1), (1, 1, 0.5), (2, 1.41, 1)):
    weighted = block_weights(stage_ends, weights)
    score(f"exact logistic, L2 0.1, stage weights {weights}", stage_ends, exact_logistic(0.1), weighted)
score("exact logistic, L2 0.1, rows scaled to one length", stage_ends, exact_logistic(0.1), to_one_length)
for c in (1, 3, 10):
    svc = sklearn_head(
        lambda c=c: SVC(C=c, kernel="rbf", gamma="scale", class_weight="balanced", probability=True, random_state=0)
    )
    score(f"RBF SVM, C {c} (Platt probabilities)", stage_ends, svc)
lda = sklearn_head(lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
score("shrinkage LDA (Ledoit-Wolf)", stage_ends, lda)
for l2 in (0.3, 0.1):
    score(f"exact logistic, L2 {l2}, GeM 2 of blocks 3-5", blocks("gem2", BLOCKS_3_5), exact_logistic(l2))
