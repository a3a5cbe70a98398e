#!/usr/bin/env python3
"""Writes the seed packages of fuzz_package into fuzz/corpus/package/.

Small zip archives, byte-for-byte reproducible (fixed timestamps): valid
packages stored and deflated, with folders and a process command, and the
kinds of hostile archive the reader must refuse (zip-slip, a symlink, an
unknown file, a missing file). Run it from anywhere; it overwrites the seeds.
"""
import os
import stat
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "package")

MANIFEST = """format: lwdock-learnware/1
model:
  kind: xgboost
  file: model.json
  task: regression
  input_dim: 3
  output_dim: 1
semantic_specification: semantic.json
stat_specifications:
  - type: RKMETableSpecification
    file: rkme.json
environment: environment.yaml
"""

PROCESS_MANIFEST = """format: lwdock-learnware/1
model:
  kind: process
  task: classification
  input_dim: 2
  output_dim: 2
  command: ["./bin/run.sh", "w.bin"]
semantic_specification: spec/semantic.json
stat_specifications:
  - type: RKMETableSpecification
    file: spec/rkme.json
environment: env.txt
"""

FILES = {
    "model.json": '{"learner":{"trees":[]}}',
    "semantic.json": '{"Data":{"Values":["Table"],"Type":"Class"}}',
    "rkme.json": '{"type":"RKMETableSpecification","gamma":0.1,"num_points":1,"z":[[0,0,0]],"beta":[1]}',
    "environment.yaml": "python: '3.11'\n",
}


def entry(name, mode=0o644, is_dir=False):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # unix, so external_attr carries the mode
    kind = stat.S_IFDIR if is_dir else stat.S_IFREG
    info.external_attr = (kind | mode) << 16
    if is_dir:
        info.external_attr |= 0x10
    return info


def write(name, entries, compression):
    path = os.path.join(OUT, name)
    with zipfile.ZipFile(path, "w") as z:
        for info, data in entries:
            info.compress_type = compression
            z.writestr(info, data)
    print(f"{path}: {os.path.getsize(path)} bytes")


def valid_entries():
    return [(entry("learnware.yaml"), MANIFEST)] + [(entry(n), d) for n, d in FILES.items()]


def main():
    os.makedirs(OUT, exist_ok=True)
    write("valid_stored.zip", valid_entries(), zipfile.ZIP_STORED)
    write("valid_deflated.zip", valid_entries(), zipfile.ZIP_DEFLATED)
    write("process_with_folders.zip", [
        (entry("spec/", 0o755, is_dir=True), ""),
        (entry("bin/", 0o755, is_dir=True), ""),
        (entry("learnware.yaml"), PROCESS_MANIFEST),
        (entry("bin/run.sh", 0o755), "#!/bin/sh\ncat\n"),
        (entry("spec/semantic.json"), FILES["semantic.json"]),
        (entry("spec/rkme.json"), FILES["rkme.json"].replace("[[0,0,0]]", "[[0,0]]")),
        (entry("env.txt"), "sh\n"),
    ], zipfile.ZIP_STORED)
    write("zip_slip.zip", valid_entries() + [(entry("../evil.txt"), "x")], zipfile.ZIP_STORED)
    link = entry("environment.yaml", 0o777)
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    write("symlink.zip", valid_entries()[:-1] + [(link, "/etc/passwd")], zipfile.ZIP_STORED)
    write("unknown_file.zip", valid_entries() + [(entry("extra.bin"), "\0\1\2")], zipfile.ZIP_STORED)
    write("missing_file.zip", valid_entries()[:-1], zipfile.ZIP_STORED)


if __name__ == "__main__":
    main()
