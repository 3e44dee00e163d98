"""Dense Hessians by every construction strategy: vectorised ones (tenths of a second
at mlp XS) and loops of HVPs (seconds to minutes per call) each sampled to suit."""

from bench_lib.suite import harness
from bench_lib.core.workloads.hessian import LOOP_MODES, WORKLOAD

VECTORISED_MODES = tuple(mode for mode in WORKLOAD.modes if mode not in LOOP_MODES)

# Time suites are named so that asv, which runs benchmarks in name order, times a
# cell ("MlpHessian", "MlpHessianByRows") before its checks ("MlpHessianChecks") read
# the timing process's record.


class MlpHessian(harness.LongCallTimeSuite):
    workload, model, modes = "hessian", "mlp", VECTORISED_MODES

    def time_hessian(self, *params):
        self.prepared()


class MlpHessianByRows(harness.SlowTimeSuite):
    workload, model, modes = "hessian", "mlp", LOOP_MODES

    def time_hessian(self, *params):
        self.prepared()


class MlpHessianChecks(harness.CheckSuite):
    workload, model = "hessian", "mlp"


class RosenbrockHessian(harness.LongCallTimeSuite):
    workload, model, modes = "hessian", "rosenbrock", VECTORISED_MODES

    def time_hessian(self, *params):
        self.prepared()


class RosenbrockHessianByRows(harness.SlowTimeSuite):
    workload, model, modes = "hessian", "rosenbrock", LOOP_MODES

    def time_hessian(self, *params):
        self.prepared()


class RosenbrockHessianChecks(harness.CheckSuite):
    workload, model = "hessian", "rosenbrock"


class LogRegHessian(harness.LongCallTimeSuite):
    workload, model, modes = "hessian", "logreg", VECTORISED_MODES

    def time_hessian(self, *params):
        self.prepared()


class LogRegHessianByRows(harness.SlowTimeSuite):
    workload, model, modes = "hessian", "logreg", LOOP_MODES

    def time_hessian(self, *params):
        self.prepared()


class LogRegHessianChecks(harness.CheckSuite):
    workload, model = "hessian", "logreg"


class CnnHessian(harness.LongCallTimeSuite):
    workload, model, modes = "hessian", "cnn", VECTORISED_MODES

    def time_hessian(self, *params):
        self.prepared()


class CnnHessianByRows(harness.SlowTimeSuite):
    workload, model, modes = "hessian", "cnn", LOOP_MODES

    def time_hessian(self, *params):
        self.prepared()


class CnnHessianChecks(harness.CheckSuite):
    workload, model = "hessian", "cnn"


class TransformerHessian(harness.LongCallTimeSuite):
    workload, model, modes = "hessian", "transformer", VECTORISED_MODES

    def time_hessian(self, *params):
        self.prepared()


class TransformerHessianByRows(harness.SlowTimeSuite):
    workload, model, modes = "hessian", "transformer", LOOP_MODES

    def time_hessian(self, *params):
        self.prepared()


class TransformerHessianChecks(harness.CheckSuite):
    workload, model = "hessian", "transformer"
