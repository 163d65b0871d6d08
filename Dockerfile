# The text pipeline's compiled kernels (native/) need a C compiler: built into a wheel in
# the full image, installed into the slim one (same Python, same ABI).
FROM python:3.11 AS native
COPY native /native
RUN pip wheel --no-cache-dir /native -w /wheels

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=newsroom.settings.production
WORKDIR /app
COPY requirements.txt .
COPY --from=native /wheels /wheels
RUN pip install --no-cache-dir -r requirements.txt /wheels/*.whl && rm -rf /wheels
COPY . .
RUN SECRET_KEY=build python manage.py collectstatic --noinput -v 0
RUN useradd --system --home /app newsroom && mkdir -p /app/var /tmp/prometheus && chown -R newsroom /app/var /tmp/prometheus
USER newsroom
EXPOSE 8000
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
CMD ["sh", "-c", "rm -rf $PROMETHEUS_MULTIPROC_DIR && mkdir -p $PROMETHEUS_MULTIPROC_DIR && exec gunicorn newsroom.wsgi -c ops/gunicorn.conf.py --bind 0.0.0.0:8000 --workers 4 --threads 4"]
