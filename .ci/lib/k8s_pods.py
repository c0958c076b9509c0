"""The Kubernetes manifests' pods, run as local processes: what the schemas and the static
checks cannot show, that the configuration the manifests give actually starts the shop.

Each Deployment of the rendered kustomization runs as `msa` with the environment and
arguments its manifest gives, its projected Secret volume written out as files (as the
kubelet does) and the service names mapped to 127.0.0.1. Then, as an operator would:

1. the kubelet's probes: HTTPS without a client certificate reaches /readyz, plain HTTP
   nothing, an API route a refusal;
2. the bootstrap Job creates the first administrator (production mode seeded none), who
   signs in through the gateway and adds a product, which a new customer orders;
3. the gateway's token key is rotated with `msa keys rotate --step` and the Secrets
   "updated" as the kubelet does (a new file renamed into place), while a client keeps
   placing and reading orders: every pod logs each printed digest, and no request fails.

Usage: k8s_pods.py MSA_BIN RENDERED_YAML WORK_DIR DATABASE_SERVER_URL
(DATABASE_SERVER_URL: postgres://role:password@host:port, a role that may create databases)
"""

import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar

import yaml

MSA, RENDERED, ROOT, SERVER = sys.argv[1:5]
PARTIES = ["gateway", "users", "products", "orders"]
GATEWAY = "https://127.0.0.1:8443"
ORIGIN = {"origin": GATEWAY}
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE

documents = [d for d in yaml.safe_load_all(open(RENDERED)) if d]
keys_dir = os.path.join(ROOT, "keys")
processes = {}


def fail(what):
    print(f"k8s-pods: FAILED: {what}", file=sys.stderr)
    for name in processes:
        print(f"--- {name}.log (last lines)", file=sys.stderr)
        with open(os.path.join(ROOT, f"{name}.log")) as log:
            print("".join(log.readlines()[-15:]), file=sys.stderr)
    sys.exit(1)


def secrets():
    """The Secrets make-secrets.sh creates, read from KEYS_DIR as it reads them."""
    read = lambda path: open(path).read()
    tls = os.path.join(keys_dir, "internal-tls")
    return {
        "msa-token-keys": {p: read(f"{keys_dir}/keys/{p}.key") for p in PARTIES},
        "msa-public-keys": {"public-keys": read(f"{keys_dir}/keys/public-keys")},
        "msa-database": {f"{p}-url": f"{SERVER}/msa_k8s_{p}" for p in PARTIES},
        "msa-internal-tls": {name: read(os.path.join(tls, name)) for name in os.listdir(tls)},
        "msa-admin-bootstrap": {"email": "root@example.com", "password": "a-long-admin-password\n"},
    }


def mounts_of(name, container):
    base = os.path.join(ROOT, name)
    return {
        m["mountPath"]: os.path.join(base, m["mountPath"].strip("/").replace("/", "_"))
        for m in container.get("volumeMounts", [])
    }


def project(name, pod, container, values):
    """Writes the pod's projected Secret items as the kubelet does: a new file renamed in."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = mounts_of(name, container)
    for m in container.get("volumeMounts", []):
        local = mounts[m["mountPath"]]
        os.makedirs(local, exist_ok=True)
        for source in volumes[m["name"]].get("projected", {}).get("sources", []):
            secret = source["secret"]
            for item in secret["items"]:
                path = os.path.join(local, item["path"])
                with open(path + ".new", "w") as f:
                    f.write(values[secret["name"]][item["key"]])
                os.chmod(path + ".new", 0o440)
                os.replace(path + ".new", path)


def start(document, values):
    name = document["metadata"]["name"]
    pod = document["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = mounts_of(name, container)
    project(name, pod, container, values)

    def local(value):
        for path, there in mounts.items():
            if value == path or value.startswith(path + "/"):
                return there + value[len(path):]
        return re.sub(r"https://(users|products|orders):", "https://127.0.0.1:", value)

    env = {"PATH": os.environ["PATH"]}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = local(e["value"])
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = values[ref["name"]][ref["key"]].strip()
    # Loopback only; the gateway's public certificate is its own local one here.
    env["MSA_HOST"] = "127.0.0.1"
    env.pop("MSA_TLS_CERT_FILE", None)
    env.pop("MSA_TLS_KEY_FILE", None)
    args = [local(re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a)) for a in container["args"]]
    log = open(os.path.join(ROOT, f"{name}.log"), "w")
    return subprocess.Popen([MSA] + args, env=env, stdout=log, stderr=subprocess.STDOUT)


def request(method, url, body=None, opener=None, headers=None, context=INSECURE):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        if opener:
            answer = opener.open(req, timeout=10)
        else:
            answer = urllib.request.urlopen(req, timeout=10, context=context)
        return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(what, condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        ended = [name for name, process in processes.items() if process.poll() is not None]
        if ended:
            fail(f"{what}: {', '.join(ended)} ended")
        if time.monotonic() > deadline:
            fail(f"{what} within {seconds} s")
        time.sleep(0.2)


def ready(port):
    try:
        return request("GET", f"https://127.0.0.1:{port}/readyz")[0] == 200
    except OSError:
        return False


def session(email, password):
    jar = CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=INSECURE), urllib.request.HTTPCookieProcessor(jar)
    )
    status, body = request(
        "POST", f"{GATEWAY}/api/v1/auth/login", {"email": email, "password": password}, opener, ORIGIN
    )
    if status != 200:
        fail(f"{email} signs in: {status} {body[:200]}")
    return opener


def logged_digests(name):
    with open(os.path.join(ROOT, f"{name}.log")) as log:
        return [json.loads(line).get("digest") for line in log if "token keys loaded" in line]


subprocess.run([MSA, "keys", "--data-dir", keys_dir], check=True, stdout=subprocess.DEVNULL)
subprocess.run([MSA, "certs", "--dir", os.path.join(keys_dir, "internal-tls")], check=True)
values = secrets()
deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
jobs = [d for d in documents if d["kind"] == "Job"]
if sorted(deployments) != sorted(PARTIES) or len(jobs) != 1:
    fail(f"four Deployments and the bootstrap Job: {sorted(deployments)}, {len(jobs)} Jobs")
try:
    for name in ["users", "products", "orders", "gateway"]:
        processes[name] = start(deployments[name], values)
    ports = {
        name: [p["containerPort"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]]
        for name, d in deployments.items()
    }
    for name in ["users", "products", "orders"]:
        port = ports[name][0]
        wait_until(f"{name} ready over HTTPS, as the kubelet probes", lambda: ready(port))
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3)
            fail(f"{name} answered plain HTTP")
        except (OSError, http.client.HTTPException):
            pass  # a TLS alert or a closed connection: no answer
        status, _ = request("GET", f"https://127.0.0.1:{port}/products/1")
        if status != 401:
            fail(f"{name}: an API route without a client certificate got {status}, not 401")
    wait_until("the gateway ready", lambda: ready(8443))
    print("k8s-pods: the four pods are ready; probes over HTTPS, no plain HTTP")

    # Production mode: nobody to sign in as until the Job has run.
    status, _ = request("POST", f"{GATEWAY}/api/v1/auth/login",
                        {"email": "alice@example.com", "password": "x" * 12}, headers=ORIGIN)
    if status != 401:
        fail(f"a demo account in production mode: {status}")
    job = start(jobs[0], values)
    if job.wait(timeout=60) != 0:
        processes["bootstrap-admin"] = job
        fail("the bootstrap Job failed")
    admin = session("root@example.com", "a-long-admin-password")
    status, body = request("POST", f"{GATEWAY}/api/v1/products",
                           {"name": "Lamp", "price_cents": 1999, "stock": 1000}, admin, ORIGIN)
    if status != 201:
        fail(f"the administrator adds a product: {status} {body[:200]}")
    product = json.loads(body)["id"]
    status, body = request("POST", f"{GATEWAY}/api/v1/auth/register",
                           {"email": "k8s@example.com", "password": "a-customer-password", "name": "K"},
                           headers=ORIGIN)
    if status != 202:
        fail(f"a customer signs up: {status} {body[:200]}")
    customer = session("k8s@example.com", "a-customer-password")
    print("k8s-pods: the bootstrap Job made the administrator; a product added, a customer signed up")

    failures, answered, stop = [], [0], threading.Event()

    def load():
        n = 0
        while not stop.is_set():
            n += 1
            status, body = request("POST", f"{GATEWAY}/api/v1/orders",
                                   {"items": [{"product_id": product, "quantity": 1}]}, customer,
                                   {**ORIGIN, "idempotency-key": f"k8s-{n}"})
            if status != 201:
                failures.append(f"place: {status} {body[:200]}")
                continue
            order = json.loads(body)["order_id"]
            answered[0] += 1
            status, body = request("GET", f"{GATEWAY}/api/v1/orders/{order}", None, customer)
            if status != 200:
                failures.append(f"read: {status} {body[:200]}")
            # Cancelled, so the stock lasts however long the rotation takes.
            status, body = request("POST", f"{GATEWAY}/api/v1/orders/{order}/cancel", None,
                                   customer, ORIGIN)
            if status != 200:
                failures.append(f"cancel: {status} {body[:200]}")
            # A steady trickle, well under the gateway's rate limits: a client, not a flood.
            stop.wait(0.05)

    worker = threading.Thread(target=load)
    worker.start()
    for step in ["introduce", "switch", "retire"]:
        out = subprocess.run([MSA, "keys", "rotate", "--data-dir", keys_dir, "--step", step,
                              "--party", "gateway"], check=True, capture_output=True, text=True)
        printed = dict(line.split(" ", 1) for line in out.stdout.splitlines())
        # make-secrets.sh again: `msa keys` rewrites the public keys file from the key files.
        subprocess.run([MSA, "keys", "--data-dir", keys_dir], check=True, stdout=subprocess.DEVNULL)
        values = secrets()
        for name, document in deployments.items():
            pod = document["spec"]["template"]["spec"]
            project(name, pod, pod["containers"][0], values)
        for name in PARTIES:
            wait_until(f"{name} logs the digest of step {step}",
                       lambda: printed[name] in logged_digests(name), 30)
        print(f"k8s-pods: rotation step {step}: every pod holds the keys printed")
        if step == "switch":
            time.sleep(35)  # the grace the step prints: a token's longest life, not a sync
    stop.set()
    worker.join()
    if failures:
        fail(f"{len(failures)} requests failed during the rotation, first: {failures[:3]}")
    if answered[0] < 20:
        fail(f"too little load to mean anything: {answered[0]} orders")
    print(f"k8s-pods: ok ({answered[0]} orders placed and read during the rotation, none failed)")
finally:
    for process in processes.values():
        process.terminate()
    for process in processes.values():
        process.wait(timeout=30)
