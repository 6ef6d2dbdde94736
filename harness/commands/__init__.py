"""One module per `socklife` subcommand, each exposing `command` (a click command).

Commands parse arguments and print; the work lives in kernel/, observe/, sockets/, lab/.
"""
