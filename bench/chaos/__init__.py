"""`make chaos`: the failures a deployment meets, on the Procfile's real processes, with the
figures that say whether anything was lost, sent twice or answered with a 5xx."""
