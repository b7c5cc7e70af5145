# tools/bench/target.sh: sourced by profile.sh and faults.sh.
# bench_target TARGET: sets name (the run's nginx: plain or olla) and port
# (the bench configuration's server for the row), or fails.
bench_target() {
    case $1 in
        plain)       name=plain; port=20100 ;;
        dmr)         name=olla;  port=20103 ;;
        passthrough) name=olla;  port=20103 ;;
        translation) name=olla;  port=20153 ;;
        *) return 1 ;;
    esac
}
