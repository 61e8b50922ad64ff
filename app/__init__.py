"""The application: the `radar` CLI, the processor and the window runner, on top of every other package."""

# The processor imports apache_beam, whose import logs a GCP-only notice on the root logger;
# dropping it here covers the CLI, Prefect workers and benchmarks that run the processor.
from infra.logfilters import install_noise_filters

install_noise_filters()
