"""Hessian-vector products in three AD compositions: rev_rev, fwd_rev, rev_fwd."""

from bench_lib.suite import harness


class MlpHVP(harness.TimeSuite):
    workload, model = "hvp", "mlp"

    def time_hvp(self, *params):
        self.prepared()


class MlpHVPChecks(harness.CheckSuite):
    workload, model = "hvp", "mlp"


class RosenbrockHVP(harness.TimeSuite):
    workload, model = "hvp", "rosenbrock"

    def time_hvp(self, *params):
        self.prepared()


class RosenbrockHVPChecks(harness.CheckSuite):
    workload, model = "hvp", "rosenbrock"


class LogRegHVP(harness.TimeSuite):
    workload, model = "hvp", "logreg"

    def time_hvp(self, *params):
        self.prepared()


class LogRegHVPChecks(harness.CheckSuite):
    workload, model = "hvp", "logreg"


class CnnHVP(harness.TimeSuite):
    workload, model = "hvp", "cnn"

    def time_hvp(self, *params):
        self.prepared()


class CnnHVPChecks(harness.CheckSuite):
    workload, model = "hvp", "cnn"


class TransformerHVP(harness.TimeSuite):
    workload, model = "hvp", "transformer"

    def time_hvp(self, *params):
        self.prepared()


class TransformerHVPChecks(harness.CheckSuite):
    workload, model = "hvp", "transformer"
