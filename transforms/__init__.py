# Every stage imports apache_beam, whose import logs a GCP-only notice on the root logger;
# dropping it here covers the CLI, Prefect workers and benchmarks alike (infra/logfilters.py).
from infra.logfilters import install_noise_filters

install_noise_filters()
