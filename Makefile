# The two commands of the README. Everything they need is installed by the scripts they
# call; slow builds are cached in ${KIDP_CACHE_DIR:-~/.cache/kidp}.
.PHONY: up down test

up: ## install, build, and start KIDP on a local control plane + Kafka, then apply examples/
	bash test/env/up.sh

down: ## stop KIDP's processes, the local control plane and Kafka
	bash test/env/platform.sh stop
	bash test/env/env.sh stop

test: ## install, lint, build, and run every test (unit + e2e on the real apiserver and Kafka)
	bash test/run-all.sh
