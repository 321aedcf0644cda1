"""N TorchServe replicas behind one nginx front (`make serve REPLICAS=N`).

    python -m scripts.replicas start --replicas 2   # replicas on loopback, nginx on 127.0.0.1:8080
    python -m scripts.replicas status               # the state file, health refreshed
    python -m scripts.replicas stop                 # supervisor, nginx, replicas

Each replica is a whole TorchServe (its own config, model store, logs, temp dir and token)
on loopback ports. nginx checks the one service key (written to ./key_file.json in
TorchServe's format, so every client reads it as before), balances over the replicas with
passive health checks and resends a request once on another replica when the first one
fails. A per-replica nginx server adds that replica's own TorchServe key, so the replicas
keep their token check. Replica 1 alone loads face-gallery (the embedded gallery store admits
one process) and nginx sends every gallery request to it. Every error nginx makes itself is
the service's JSON. A supervisor restarts a replica whose TorchServe died. Everything is
recorded in .serve/replicas.json.
"""
