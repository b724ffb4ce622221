# Multi-stage build: wheels are built in the first stage; the runtime stage holds only the installed
# package, runs as an unprivileged user and reports health through /healthz.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scim_server ./scim_server
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SCIM_HOST=0.0.0.0 SCIM_PORT=8080
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin scim
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY config ./config
ENV SCIM_CONFIG=/app/config/scim-server.toml
USER scim
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SCIM_PORT','8080'), timeout=2)" || exit 1
ENTRYPOINT ["scim-server"]
CMD ["serve"]
