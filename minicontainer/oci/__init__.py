"""The OCI runtime: `minicontainer oci ...` speaks runc's command line (lesson 10).

podman, containerd and the OCI validation suite do not know minicontainer's flags: they drive a
*runtime binary* (runc, crun, youki) through the command line the OCI runtime specification
describes, on a *bundle*: a directory with a root filesystem and a `config.json` saying everything
about the container. This package lets them drive minicontainer the same way. It is not a second
runtime: it translates config.json into the configuration `run` already uses and calls the same
core (namespaces, rootfs, cgroups, security); only the lifecycle differs, and the pieces it needs
live in the core too (spawn.Helper.created, process.created_wait_for_start, `leave_init`).

    config.py    config.json -> the runtime's own config, refusing what it does not support by name
    state.py     the state document (`state ID`), where containers are kept, their status
    hooks.py     running hooks with the state on stdin and a timeout
    console.py   --console-socket: a terminal's master end sent over a unix socket (SCM_RIGHTS)
    runtime.py   create, start, kill, delete, run, exec: the lifecycle
    cli.py       runc's command line over runtime.py (also installed as `minicontainer-oci`)

The lifecycle, and why engines want create and start apart:

    create   namespaces, cgroup, mounts, pivot_root, user, capabilities; PID 1 then *waits* on a fifo
             (runc's exec fifo). `create` returns: the caller (podman's conmon) is PID 1's parent now
             (a subreaper), and it can set up the network, attach logs, run hooks before anything runs.
    start    opens the fifo: PID 1 execs the program.
    kill     a signal to PID 1.         delete   the cgroup and the state go; poststop hooks run.
"""
