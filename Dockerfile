# tmdbq's image: built on Debian 12 with the package list and the build script of a
# developer machine (scripts/packages-build.txt, scripts/build.sh), then copied into a
# slim Debian 12 with only the run-time libraries (scripts/packages-runtime.txt, and
# http/packages-runtime.txt for tmdbq-http).
# scripts/check-dockerfile.sh fails when these steps drift from scripts/ (same lists, read
# with setup.sh's sed; the build through scripts/build.sh; every copied program a target
# it builds).
FROM debian:12 AS builder
ARG DEBIAN_FRONTEND=noninteractive
COPY scripts/packages-build.txt /tmp/packages-build.txt
COPY http/packages-build.txt /tmp/http-packages-build.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' /tmp/packages-build.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
# tmdbq-http's HTTP server library.
RUN apt-get update \
 && sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' /tmp/http-packages-build.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The tests need services and are run by scripts/test.sh, not inside an image build; the
# image needs the programs and the fake TMDB of the tests (the compose stack's local TMDB),
# which is configured with the tests (the default) but only its target is built.
RUN TMDBQ_BUILD_TARGETS="tmdbq tmdbq-consumer tmdbq-reaper tmdbq-http fake-tmdb" bash scripts/build.sh build

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
COPY scripts/packages-runtime.txt /tmp/packages-runtime.txt
COPY http/packages-runtime.txt /tmp/http-packages-runtime.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' /tmp/http-packages-runtime.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/http-packages-runtime.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' /tmp/packages-runtime.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/packages-runtime.txt \
 && useradd --system --uid 10001 --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin tmdbq
COPY --from=builder /src/build/producer/tmdbq /usr/local/bin/tmdbq
COPY --from=builder /src/build/consumer/tmdbq-consumer /usr/local/bin/tmdbq-consumer
COPY --from=builder /src/build/reaper/tmdbq-reaper /usr/local/bin/tmdbq-reaper
COPY --from=builder /src/build/http/tmdbq-http /usr/local/bin/tmdbq-http
COPY --from=builder /src/build/tests/fake_tmdb/fake-tmdb /usr/local/bin/fake-tmdb
USER tmdbq
CMD ["tmdbq", "--help"]
