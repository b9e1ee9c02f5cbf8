# Sourced by the scripts that run from a copy of the repository without installing it
# (gpu_train.sh, gpu_checks.sh). Needs REPO, the repository root.
#
#   use_package_shim [FOLDER...]
#
# builds $SHIM, a temporary folder holding draggan_fast/ with stylegan/ and kernels/ as its
# sub-packages (links, laid out as setup.py installs them), puts it first on PYTHONPATH followed
# by the FOLDERs, and removes it when the script exits. PYTHONSAFEPATH=1: the working folder
# (the repo root, whose draggan_fast/ lacks the sub-packages) must not come before the shim on
# sys.path; pytest, which puts its root folder first, needs --import-mode=importlib for the same
# reason.

use_package_shim() {
    SHIM=$(mktemp -d)
    # shellcheck disable=SC2064  # expand $SHIM now: the trap must remove this folder
    trap "rm -rf '$SHIM'" EXIT
    mkdir "$SHIM/draggan_fast"
    local entry
    for entry in "$REPO"/draggan_fast/*; do
        ln -s "$entry" "$SHIM/draggan_fast/$(basename "$entry")"
    done
    ln -s "$REPO/stylegan" "$SHIM/draggan_fast/stylegan"
    ln -s "$REPO/kernels" "$SHIM/draggan_fast/kernels"
    local folders
    folders=$(IFS=:; echo "$SHIM${*:+:$*}")
    export PYTHONPATH="$folders${PYTHONPATH:+:$PYTHONPATH}" PYTHONSAFEPATH=1
}
