"""scikit-learn style estimators: DEC, IDEC, DKM, AlternatingKMeans, DESOM, VaDE, RIM, IMSAT,
DAC.

The one place the recipe is composed (pretrain the autoencoder, K-means on
its embedding, then each method's training) and the one owner of its
defaults: the command
line, ``reproduce`` and the notebooks' quick settings all go through these
classes. They follow scikit-learn's conventions (``fit`` returns ``self``,
learned state ends in ``_``, parameters declared in
``_parameter_constraints``, so ``clone`` and ``Pipeline`` work).

>>> from deepcluster_keras import DEC  # doctest: +SKIP
>>> dec = DEC(n_clusters=10, random_state=0).fit(x)  # doctest: +SKIP
>>> dec.predict(x_new)  # doctest: +SKIP
"""

from deepcluster_keras.estimator._dac import DAC
from deepcluster_keras.estimator._dec import DEC, IDEC
from deepcluster_keras.estimator._information import IMSAT, RIM
from deepcluster_keras.estimator._kmeans_friendly import DKM, AlternatingKMeans
from deepcluster_keras.estimator._som import DESOM
from deepcluster_keras.estimator._vade import VaDE

__all__ = ["DEC", "IDEC", "DKM", "AlternatingKMeans", "DESOM", "VaDE", "RIM", "IMSAT", "DAC"]
