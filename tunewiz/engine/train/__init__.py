"""Training as Caffe's ``Solver`` does it, one concern per module.

* :mod:`~tunewiz.engine.train.solver` — ``Solver``: ``step(n)``, ``test()``, ``snapshot()``, ``restore(path)``,
  ``solve()``, for ``tunewiz train`` and for scripts alike;
* :mod:`~tunewiz.engine.train.trainer` — ``caffe train``: a loop over the Solver that yields typed events
  and writes events.jsonl (the CLI and the wizard's training process);
* :mod:`~tunewiz.engine.train.iteration` — one iteration's forward/backward passes (divergence, out of memory);
* :mod:`~tunewiz.engine.train.testing` — the test phase (``Solver::Test``);
* :mod:`~tunewiz.engine.train.state` — iteration, lr step and smoothed-loss window;
* :mod:`~tunewiz.engine.train.resume` — the solver's snapshot and restore, composed from its parts;
* :mod:`~tunewiz.engine.train.snapshot` — snapshot files: names, atomic writes, finding a solverstate's model;
* :mod:`~tunewiz.engine.train.nets` — the train and test nets (``InitTrainNet``/``InitTestNets``, weights);
* :mod:`~tunewiz.engine.train.labelguard` — labels checked before a loss layer sees them;
* :mod:`~tunewiz.engine.train.timing` — ``tunewiz time`` and ``tunewiz test``;
* :mod:`~tunewiz.engine.train.caffelog` — the log in Caffe's glog format.
* :mod:`~tunewiz.engine.train.runguard` — one trainer per run folder and snapshot prefix;

The update rules and lr policies it applies are :mod:`tunewiz.engine.solvers`.
"""
