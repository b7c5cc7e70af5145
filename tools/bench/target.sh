# tools/bench/target.sh: sourced by run.sh, profile.sh and faults.sh.
# bench_target TARGET: sets name (the run's nginx: plain, plainkeep or
# olla), port (the bench configuration's server for the row) and tunables
# (GLIBC_TUNABLES for that nginx: plain-keep's heap settings, see run.sh),
# or fails.
bench_target() {
    tunables=""
    case $1 in
        plain)       name=plain; port=20100 ;;
        plain-keep)  name=plainkeep; port=20200
                     tunables=glibc.malloc.trim_threshold=134217728:glibc.malloc.mmap_threshold=33554432 ;;
        dmr)         name=olla;  port=20103 ;;
        passthrough) name=olla;  port=20103 ;;
        translation) name=olla;  port=20153 ;;
        *) return 1 ;;
    esac
}
