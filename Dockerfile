FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=newsroom.settings.production
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build python manage.py collectstatic --noinput -v 0
RUN useradd --system --home /app newsroom && mkdir -p /app/var /tmp/prometheus && chown -R newsroom /app/var /tmp/prometheus
USER newsroom
EXPOSE 8000
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
CMD ["sh", "-c", "rm -rf $PROMETHEUS_MULTIPROC_DIR && mkdir -p $PROMETHEUS_MULTIPROC_DIR && exec gunicorn newsroom.wsgi -c ops/gunicorn.conf.py --bind 0.0.0.0:8000 --workers 4 --threads 4"]
