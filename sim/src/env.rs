//! Every environment variable the project reads, in one place: the
//! command line's own (each also a flag of its command, shown in its
//! `--help`), the tests' and the CI scripts'. `wqsim --help` prints this
//! list; a test fails on a `WQSIM_*` variable read anywhere but listed
//! nowhere here. `LOOM_*` and `SHUTTLE_*` pass through to loom and
//! shuttle unchanged.

/// The list as `wqsim --help` prints it after the commands.
pub const HELP: &str = "\
Environment (each flag's own variable is shown in its command's --help):
  WQSIM_STEPS_MAX, WQSIM_TIME_LIMIT_MS, WQSIM_MEMORY_LIMIT_MIB
                             check, run, explore: a run's budgets (--steps-max, --time-limit-ms, --memory-limit-mib)
  WQSIM_HEAP_POINTS          check, run, explore, mutate: heap field accesses as shuttle scheduling points (--heap-points)
  WQSIM_KERNEL, WQSIM_GUEST  kernel-check: the bzImage and the static guest (--kernel, --guest)
  WQSIM_FUZZ_BUGS            from-fuzz, fuzz-states, the fuzz targets: catalog switches on (--bugs)
  WQSIM_SCENARIOS            the schedule fuzz target: where scenarios/ is
  WQSIM_SHUTTLE_STDERR       let shuttle write to standard error (it is silenced during explorations)
  WQSIM_KERNEL_CACHE         ci/kernel/build.sh, ci/kernel/source.sh: where built kernels and unpacked sources are kept (~/.cache/wqsim/kernel)
  WQSIM_KERNEL_SRC_6_12, WQSIM_KERNEL_SRC_6_1
                             the kernel map's tests: a linux-source tree to use instead of ci/kernel/source.sh's
  WQSIM_RECORD               ci/kernel/check: also refresh the recorded console the tests compare with
  WQSIM_KERNEL_SERIES        ci/kernel/check: the Debian kernels to boot, one table each (\"6.12\"; nightly: \"6.12 6.1\")
  WQSIM_FUZZ_SMOKE, WQSIM_FUZZ_SECONDS, WQSIM_FUZZ_MATRIX_SECONDS
                             ci/fuzz: seconds per target (smoke, nightly, matrix)
  WQSIM_MATRIX_ITERATIONS    ci/matrix: schedules per shuttle cell
  WQSIM_MUTATION_MIN_SCORE   ci/mutate: the lowest mutation score (percent) that passes
  WQSIM_MUTATE_JOBS          ci/mutate: sweeps run at once per build (default: the cores, at most 4)
  WQSIM_SEED, WQSIM_PROPTEST_CASES
                             model tests and ci/nightly: the seed, the proptest case count
Golden files (scenario transcripts, failure reports, parse errors) are insta
snapshots: review and accept changes with `cargo insta review`.
";
