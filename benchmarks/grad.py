"""The gradient (with the loss): the baseline every HVP ratio is taken against."""

from bench_lib.suite import harness


class MlpGrad(harness.TimeSuite):
    workload, model = "grad", "mlp"

    def time_grad(self, *params):
        self.prepared()


class MlpGradChecks(harness.CheckSuite):
    workload, model = "grad", "mlp"


class RosenbrockGrad(harness.TimeSuite):
    workload, model = "grad", "rosenbrock"

    def time_grad(self, *params):
        self.prepared()


class RosenbrockGradChecks(harness.CheckSuite):
    workload, model = "grad", "rosenbrock"


class LogRegGrad(harness.TimeSuite):
    workload, model = "grad", "logreg"

    def time_grad(self, *params):
        self.prepared()


class LogRegGradChecks(harness.CheckSuite):
    workload, model = "grad", "logreg"


class CnnGrad(harness.TimeSuite):
    workload, model = "grad", "cnn"

    def time_grad(self, *params):
        self.prepared()


class CnnGradChecks(harness.CheckSuite):
    workload, model = "grad", "cnn"


class TransformerGrad(harness.TimeSuite):
    workload, model = "grad", "transformer"

    def time_grad(self, *params):
        self.prepared()


class TransformerGradChecks(harness.CheckSuite):
    workload, model = "grad", "transformer"
