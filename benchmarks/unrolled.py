"""Unrolled optimization: the hypergradient d_lr and the meta-gradient d_init through K
inner steps (K and the inner optimizer are asv parameters), and the approximation
error of first-order MAML against the exact meta-gradient."""

from bench_lib.suite import harness

# Time suites are named so that asv, which runs benchmarks in name order, times a
# cell ("MlpUnrolled") before its checks ("MlpUnrolledChecks", "MlpUnrolledFirstOrder")
# read the timing process's record.


class MlpUnrolled(harness.UnrolledTimeSuite):
    workload, model = "unrolled", "mlp"

    def time_unrolled(self, *params):
        self.prepared()


class MlpUnrolledChecks(harness.CheckSuite):
    workload, model = "unrolled", "mlp"
    timeout = harness.UnrolledTimeSuite.timeout


class MlpUnrolledFirstOrder(harness.ApproximationSuite):
    workload, model, modes = "unrolled", "mlp", ("first_order",)
    timeout = harness.UnrolledTimeSuite.timeout


class CnnUnrolled(harness.UnrolledTimeSuite):
    workload, model = "unrolled", "cnn"

    def time_unrolled(self, *params):
        self.prepared()


class CnnUnrolledChecks(harness.CheckSuite):
    workload, model = "unrolled", "cnn"
    timeout = harness.UnrolledTimeSuite.timeout


class CnnUnrolledFirstOrder(harness.ApproximationSuite):
    workload, model, modes = "unrolled", "cnn", ("first_order",)
    timeout = harness.UnrolledTimeSuite.timeout
