"""Caffe's solvers: the update rules and the learning-rate policies.

One module per solver, as Caffe's ``src/caffe/solvers/*.cpp``, each class with Caffe's formula in its docstring:

* :mod:`~tunewiz.engine.solvers.sgd` ``SGD`` — the update every solver shares (clip, normalize,
  regularize, apply) and momentum SGD;
* :mod:`~tunewiz.engine.solvers.nesterov` ``Nesterov``;
* :mod:`~tunewiz.engine.solvers.adagrad` ``AdaGrad``;
* :mod:`~tunewiz.engine.solvers.rmsprop` ``RMSProp``;
* :mod:`~tunewiz.engine.solvers.adadelta` ``AdaDelta``;
* :mod:`~tunewiz.engine.solvers.adam` ``Adam``;
* :mod:`~tunewiz.engine.solvers.factory` — ``create_solver(sp, params)``, Caffe's solver registry;
* :mod:`~tunewiz.engine.solvers.lr_policy` — the seven lr policies (fixed, step, exp, inv, multistep,
  poly, sigmoid) of ``SGDSolver::GetLearningRate``.

The loop that calls them (``Solver::Step``) is :mod:`tunewiz.engine.train`.
"""
