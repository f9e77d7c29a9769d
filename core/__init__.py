"""What the API and the workers share: the job spec, model cards, kinds of model, job states, settings, ids, the
registry in Redis, the artifact store, data sets, queues and worker presence. Imports models; never worker or
service."""
