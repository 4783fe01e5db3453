# Wirefleet build, test and run targets. `make run` and `make test` are the
# two commands of the README's quickstart.

SHELL    := /bin/bash
GO       ?= go
# Semver-shaped so that releases and anti-rollback can compare versions.
VERSION  ?= $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//' || true)
ifeq ($(VERSION),)
VERSION  := 0.1.0-dev.$(shell git rev-parse --short HEAD 2>/dev/null || echo 0)
endif
LDFLAGS  := -s -w -X github.com/wirefleet/wirefleet/server/internal/daemon.Version=$(VERSION) -X main.Version=$(VERSION)
BIN      := bin
DATA     ?= ./data
LISTEN   ?= :8443
PLATFORMS := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64

.PHONY: all build cross dist run test vet unit wine bench fuzz screenshots tfdocs clean

all: build

## build: both binaries for this machine, into ./bin
## (the first build downloads the modules and compiles: about 5 minutes on 2 cores; later ones take seconds)
build:
	@test -x $(BIN)/wirefleet-server || echo "build: first build: downloading modules and compiling, about 5 minutes on 2 cores (later builds take seconds)…"
	@echo "build: $(BIN)/wirefleet-server"
	@$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/wirefleet-server ./server
	@echo "build: $(BIN)/wirefleet-agent"
	@$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/wirefleet-agent ./agent
	@echo "build: $(BIN)/terraform-provider-wirefleet"
	@$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/terraform-provider-wirefleet ./server/terraform-provider-wirefleet

## cross: both binaries for linux, windows and darwin on amd64 and arm64
cross:
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		for b in server agent; do \
			echo "  $$os/$$arch wirefleet-$$b$$ext"; \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
				-o $(BIN)/$$os-$$arch/wirefleet-$$b$$ext ./$$b; \
		done; \
	done

NFPM     := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.43.0
DIST     := dist

## dist: the agent for linux/darwin/windows × amd64/arm64 (version stamped), .deb and .rpm, and the MSI (needs WINTUN_ZIP=wintun-0.14.1.zip or WINTUN=none)
dist: cross
	@mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		cp $(BIN)/$$os-$$arch/wirefleet-agent$$ext $(DIST)/wirefleet-agent-$(VERSION)-$$os-$$arch$$ext; \
	done
	@set -e; for arch in amd64 arm64; do \
		for fmt in deb rpm; do \
			sed "s|\$${NFPM_BINARY}|$(BIN)/linux-$$arch/wirefleet-agent|" installer/nfpm.yaml > $(DIST)/nfpm-$$arch.yaml; \
			NFPM_ARCH=$$arch NFPM_VERSION=$(VERSION) $(GO) run $(NFPM) package --config $(DIST)/nfpm-$$arch.yaml --packager $$fmt --target $(DIST)/; \
		done; \
	done
	@set -e; if ! command -v wixl >/dev/null; then echo "dist: wixl not installed (apt-get install wixl msitools); MSI skipped"; exit 0; fi; \
	if [ "$(WINTUN)" = none ]; then suffix=-nowintun; \
		echo "dist: WINTUN=none: the MSIs have no wintun.dll; the tunnel cannot come up on Windows until one is put beside the exe"; \
	elif [ -n "$(WINTUN_ZIP)" ]; then suffix=; scripts/dist/wintun.sh "$(WINTUN_ZIP)" $(DIST)/wintun; \
	else echo "dist: the MSI needs the official Wintun: WINTUN_ZIP=wintun-0.14.1.zip (https://www.wintun.net/builds/wintun-0.14.1.zip; checked by SHA-256 and signature), or WINTUN=none for a package without it"; exit 1; fi; \
	for arch in amd64 arm64; do \
		dll=none; [ -z "$$suffix" ] && dll=$(DIST)/wintun/$$arch/wintun.dll; \
		msi=$(DIST)/wirefleet-agent-$(VERSION)-windows-$$arch$$suffix.msi; \
		scripts/dist/msi.sh $(BIN)/windows-$$arch/wirefleet-agent.exe $$dll $(VERSION) $$msi $$arch; \
		if [ -n "$(SIGN_CERT)" ]; then osslsigncode sign -certs $(SIGN_CERT) -key $(SIGN_KEY) -in $$msi -out $(DIST)/signed.msi && mv $(DIST)/signed.msi $$msi; fi; \
	done
	@ls -l $(DIST)

## run: the server on embedded SQLite under ./data; prints the admin login and an enrollment one-liner
## (MSI=dist/…-windows-amd64.msi also publishes that MSI for the PowerShell one-liner;
##  EXTERNAL_URL=https://NAME-OR-IP:8443 sets the address the one-liners send machines to)
run: build
	@echo "run: wirefleet-server serve --data-dir $(DATA) --listen $(LISTEN) (Ctrl-C stops it)"
	@$(BIN)/wirefleet-server serve --data-dir $(DATA) --listen $(LISTEN) --bootstrap-token --publish-agent $(BIN)/wirefleet-agent \
		$(if $(MSI),--publish-also windows/amd64-msi=$(MSI)) $(if $(EXTERNAL_URL),--external-url $(EXTERNAL_URL))

## vet: go vet for every OS we ship
vet:
	@set -e; for os in linux windows darwin; do echo "  vet GOOS=$$os"; GOOS=$$os $(GO) vet ./...; done
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

## unit: the test suite (race detector on), then the store suite, the two-replica test, the pg_dump restore, the replica failover and the relay across replicas in namespaces on PostgreSQL
unit:
	@echo "go test -race -count=1 -timeout 20m ./...  (the ten slowest tests are listed at the end)"
	@set -o pipefail; $(GO) test -race -count=1 -timeout 20m -json ./... | $(GO) run ./scripts/testtime -top 10
	@dsn=$$(scripts/postgres.sh start) || { echo "postgres: SKIPPED — install Debian's postgresql to run the store suite and the replica test on PostgreSQL (.ci/run does)"; exit 0; }; \
	echo "PostgreSQL at $$dsn"; \
	WIREFLEET_TEST_POSTGRES="$$dsn" $(GO) test -race -count=1 ./server/internal/store/ && \
	WIREFLEET_TEST_POSTGRES="$$dsn" $(GO) test -race -count=1 -run 'TestTwoReplicasOnPostgres|TestPostgresDumpRestore' -v ./server/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|replicas_test|backup_cli_test'; \
	status=$${PIPESTATUS[0]}; \
	if [ $$status = 0 ]; then \
		WIREFLEET_TEST_POSTGRES="$$dsn" $(GO) test -count=1 -run 'TestFailoverToAnotherReplica|TestRelayAcrossReplicas' -v ./scripts/e2e/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|failover_test|mesh_test'; \
		status=$${PIPESTATUS[0]}; \
	fi; \
	scripts/postgres.sh stop; exit $$status

## wine: the agent's Windows-only tests as real Windows binaries under Wine
wine:
	@if { command -v wine64 >/dev/null || [ -x /usr/lib/wine/wine64 ]; } && command -v x86_64-w64-mingw32-gcc >/dev/null; then \
		scripts/wine-test.sh; \
	else \
		echo "wine: SKIPPED — needs wine64 and gcc-mingw-w64-x86-64-win32 (.ci/run installs them)"; \
	fi

## test: what CI runs — installs the suites' packages when root with apt, vet for every OS, the whole test suite, PostgreSQL and Wine suites; names every suite it had to skip
test:
	@scripts/test.sh

## bench: the benchmarks recorded in docs/BENCHMARKS.md
bench:
	$(GO) test -run '^$$' -bench 'Enroll' -benchtime 2000x -timeout 30m ./server/internal/api/
	$(GO) test -run '^$$' -bench 'Fanout' -benchtime 5x -timeout 30m ./server/internal/api/
	$(GO) test -run '^$$' -bench 'Flags304' -benchtime 20000x ./server/internal/api/
	$(GO) test -run '^$$' -bench 'Evaluate' -benchmem ./pkg/flageval/
	$(GO) test -run '^$$' -bench 'OFREP' -benchtime 3s ./agent/internal/flags/

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeEnroll -fuzztime $(FUZZTIME) ./server/internal/api/
	$(GO) test -run '^$$' -fuzz FuzzDecodeAdminRequests -fuzztime $(FUZZTIME) ./server/internal/api/
	$(GO) test -run '^$$' -fuzz FuzzValidateEnroll -fuzztime $(FUZZTIME) ./server/internal/fleet/
	$(GO) test -run '^$$' -fuzz FuzzCheck -fuzztime $(FUZZTIME) ./pkg/jsonkeys/
	$(GO) test -run '^$$' -fuzz FuzzSplit -fuzztime $(FUZZTIME) ./pkg/relayframe/
	$(GO) test -run '^$$' -fuzz FuzzSplitMesh -fuzztime $(FUZZTIME) ./server/internal/relay/
	$(GO) test -run '^$$' -fuzz FuzzPeerRelayReceive -fuzztime $(FUZZTIME) ./agent/internal/netpath/
	$(GO) test -run '^$$' -fuzz FuzzStoreFiles -fuzztime $(FUZZTIME) ./server/internal/sealed/

## tfdocs: regenerate docs/terraform-provider from the provider's schema (tfplugindocs; needs terraform)
tfdocs: build
	scripts/tfdocs.sh

## screenshots: refresh docs/screenshots from the Chromium test
screenshots:
	WIREFLEET_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'InChromium|ConsoleAtFleetScale' ./server/internal/web/

clean:
	rm -rf $(BIN) $(DIST)
