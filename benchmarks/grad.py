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
