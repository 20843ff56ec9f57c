"""The bare-script baseline: the same fit on the same data as `python run.py`, nothing else."""

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
model = LogisticRegression(C=1 / 0.5, solver="lbfgs", max_iter=1000, random_state=0).fit(X_train, y_train)
print(f"accuracy {model.score(X_test, y_test):.4f}")
