# One image for every Python process of the platform: gunicorn (HTTP), Daphne (WebSockets), the
# matching worker and the one-shot migration. The commands live in backend/config/processes.py;
# docker-compose.yml runs them. See docs/operations.md.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SOCIALLAB_MODE=production

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps -e .

# Compiled translations and hashed, compressed static files are part of the image. Production
# settings need these variables to import; none of them is used to reach a service here.
RUN cd backend \
    && SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-build-only \
       DATABASE_URL=postgres://build@127.0.0.1:1/build \
       REDIS_URL=redis://127.0.0.1:1/0 \
       ALLOWED_HOSTS=build.invalid \
       sh -c "python manage.py compile_translations && python manage.py collectstatic --noinput"

# The code and the static files stay owned by root: the processes cannot rewrite them.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin sociallab
USER sociallab

WORKDIR /app/backend
EXPOSE 8000 8001
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--worker-class", "sync", "--timeout", "30", "--graceful-timeout", "25", "--error-logfile", "-", "--env", "PGOPTIONS=-c join_collapse_limit=3 -c jit=off", "config.wsgi:application"]
