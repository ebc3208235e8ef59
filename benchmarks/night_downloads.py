"""What a night on an object store downloads when the history is long: the span's days and the new day's, not
the history.

A moto S3 server on 127.0.0.1 (tests/objectstore.py; $PIPELINE_TEST_S3_ENDPOINT: another one), a data root on
a fresh bucket holding H days of the sample machine at 60 s (1,440 rows a day): their raw files and their
validated readings, stored as the day runs store them. Then two nights through Dagster, in this process, with
the real assets: the new day's raw file arrives, the day is ingested and validated (one run), the model run
trains on the span (training_days 28, 1 epoch), audits and publishes, and the new day is scored (one run). The
first night runs on a fresh worker (an empty download cache), the second on the same worker the next night.
Every download of an artifact write into this machine's cache is recorded (by its URL; a write already
cached is not downloaded again), and the raw files the
mirror fetched are counted; both are printed by asset.

    PYTHONPATH=. .venv/bin/python benchmarks/night_downloads.py --history 100
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.harness import PROJECT

TRAINING_DAYS = 28


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100, help="stored days before the first night")
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "bench_data")
    args = parser.parse_args()
    days = args.history + 2  # the history and two nights
    first = date.today() - timedelta(days=days + 1)  # every day a partition (partitions end today)
    os.environ["PIPELINE_FIRST_DAY"] = first.isoformat()
    os.environ["PIPELINE_DATA_DIR"] = str(PROJECT / "data")  # the definitions' default root: not read here

    import dagster as dg

    from assets.definitions import ASSETS, CHECKS, build_resources
    from pipeline.catalog import Catalog
    from pipeline.ingest import read_raw_files
    from pipeline.storage.objectstore import DOWNLOADS, ObjectStoreBackend, cache_root, download_name, root_cache
    from pipeline.synthetic import generate, write_daily_files
    from pipeline.validate import validated_day
    from tests.objectstore import s3_bucket, stop_server

    downloads: list[str] = []
    real_download = ObjectStoreBackend._download

    def recorded(self, write):
        if not (cache_root() / DOWNLOADS / download_name(write)).is_dir():  # not on this machine yet
            downloads.append(str(write))
        return real_download(self, write)

    ObjectStoreBackend._download = recorded  # the real download, its URL noted

    scratch = Path(tempfile.mkdtemp(prefix="night_downloads_", dir=args.data_dir))
    raw = scratch / "raw"
    files = write_daily_files(generate(days=days, period_s=60, seed=11, start=f"{first} 00:00:00"), raw)
    (raw / "sensors.yaml").write_text((PROJECT / "data" / "raw" / "sensors.yaml").read_text()
                                      .replace("sampling_period_s: 20\n", "sampling_period_s: 60\n")
                                      .replace("max_gap_s: 60 ", "max_gap_s: 180 "))
    names = [re.search(r"\d{4}-\d{2}-\d{2}", f.name).group(0) for f in files]
    history, nights = names[:args.history], names[args.history:]
    try:
        with s3_bucket(scratch / "writer-cache") as (url, _):
            t0 = time.perf_counter()
            catalog = Catalog(url)
            for f in [raw / "sensors.yaml", *files[:args.history]]:
                upload_one(f, f"{url}/raw")
            local = scratch / "history-raw"
            local.mkdir()
            for f in [raw / "sensors.yaml", *files[:args.history]]:
                os.link(f, local / f.name)
            for day in history:
                catalog.save_day("validated_readings", day, validated_day(day, read_raw_files(local, day=day)))
            print(f"history of {args.history} days stored in {time.perf_counter() - t0:.0f} s", flush=True)
            os.environ["PIPELINE_CACHE_DIR"] = str(scratch / "worker-cache")  # the worker: nothing read yet
            config = {"ops": {"training_windows": {"config": {"window_length": 12, "training_days": TRAINING_DAYS}},
                              "autoencoder": {"config": {"epochs": 1, "windows_per_epoch": 2000}}}}
            for label, day, file in (("fresh worker", nights[0], files[args.history]),
                                     ("same worker, next night", nights[1], files[args.history + 1])):
                downloads.clear()
                mirror = root_cache(f"{url}/raw") / "raw"
                before = {p.name: p.stat().st_mtime_ns for p in mirror.iterdir()} if mirror.is_dir() else {}
                upload_one(file, f"{url}/raw")  # the night's new day arrives
                t0 = time.perf_counter()
                for selection, key in ((["raw_readings", "validated_readings"], day),
                                       (["training_windows", "autoencoder", "audit_latents", "published_model"], None),
                                       (["latent_vectors", "anomaly_events"], day)):
                    result = dg.materialize([*ASSETS, *CHECKS], selection=selection, resources=build_resources(url),
                                            run_config=config if key is None else {}, partition_key=key,
                                            raise_on_error=True)
                    assert result.success
                seconds = time.perf_counter() - t0
                fetched = [p.name for p in mirror.iterdir() if before.get(p.name) != p.stat().st_mtime_ns]
                print_night(label, day, seconds, downloads, fetched, url, history, args.history)
                history = [*history, day]
    finally:
        stop_server()
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def upload_one(path: Path, url: str) -> None:
    import fsspec

    fs, prefix = fsspec.core.url_to_fs(url)
    fs.put_file(str(path), f"{prefix}/{path.name}")


def print_night(label: str, day: str, seconds: float, downloads: list[str], fetched: list[str], url: str,
                history: list[str], stored: int) -> None:
    kinds = collections.Counter()
    for write in downloads:
        where = write[len(url):].strip("/").split("/")
        if where[0] == "store" and len(where) >= 4 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", where[2]):
            span = set(history[-TRAINING_DAYS:])
            kinds[f"{where[1]} ({'the night' if where[2] == day else 'span' if where[2] in span else 'OTHER'})"] += 1
        else:
            kinds["/".join(p for p in where[:-1] if not p.startswith(("w2", ".runs")))[:60]] += 1
    print(f"\n{label}: night of {day}, {stored} days stored before the first night, {seconds:.0f} s")
    print(f"  raw files mirrored: {len(fetched)} ({', '.join(sorted(fetched)) or 'none'})")
    print(f"  artifact writes downloaded: {len(downloads)}")
    for kind, n in sorted(kinds.items()):
        print(f"    {n:4d}  {kind}")


if __name__ == "__main__":
    main()
