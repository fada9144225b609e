"""The usual LangChain RAG pipeline, as a user would build it, for the side-by-side benchmark.

Runs in its own environment (``.venv-baseline``: langchain-milvus, langchain-huggingface,
sentence-transformers; created by ``scripts/bench.sh``), never imported by reportrag.

    python bench/langchain_pipeline.py ingest --db DB --model DIR --corpus DIR
    python bench/langchain_pipeline.py query  --db DB --model DIR --corpus DIR --queries F.jsonl

The pipeline: TextLoader per file, RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200) (LangChain's documented defaults), HuggingFaceEmbeddings over the same
multilingual-e5-small directory reportrag uses (with the e5 ``passage: `` / ``query: ``
prompts and normalised vectors, which the model needs), and a langchain-milvus ``Milvus``
store in a Milvus Lite file with a FLAT COSINE index. Each document carries its file name,
the language the manifest gives it and its position, so the evaluation's language filter
(``expr``) and split-gold judgement work as they do for reportrag.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200
COLLECTION = "langchain_baseline"
DOC_SUFFIXES = {".txt", ".md"}


def _load(corpus: Path) -> list:
    """One LangChain Document per corpus file, metadata from the manifest."""
    from langchain_core.documents import Document

    manifest = {}
    mpath = corpus / "manifest.toml"
    if mpath.is_file():
        for entry in tomllib.loads(mpath.read_text(encoding="utf-8")).get("documents", []):
            manifest[entry["file"]] = entry
    docs = []
    for f in sorted(corpus.iterdir()):
        if f.suffix.lower() not in DOC_SUFFIXES or f.name.lower().startswith("readme"):
            continue
        entry = manifest.get(f.name, {})
        # TextLoader is a plain read with this metadata; no cleaning (the usual pipeline).
        docs.append(
            Document(
                page_content=f.read_text(encoding="utf-8"),
                metadata={"source": f.name, "lang": entry.get("lang", "")},
            )
        )
    return docs


def _split(corpus: Path) -> list:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = []
    for doc in _load(corpus):
        for seq, piece in enumerate(splitter.split_documents([doc])):
            piece.metadata["seq"] = seq
            chunks.append(piece)
    return chunks


def _embeddings(model: str):
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=model,
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "prompt": "passage: "},
        query_encode_kwargs={"normalize_embeddings": True, "prompt": "query: "},
    )


def _store(db: Path, model: str, *, drop_old: bool):
    from langchain_milvus import Milvus

    return Milvus(
        embedding_function=_embeddings(model),
        collection_name=COLLECTION,
        connection_args={"uri": str(db)},
        index_params={"index_type": "FLAT", "metric_type": "COSINE"},
        consistency_level="Session",
        drop_old=drop_old,
        auto_id=True,
    )


def cmd_ingest(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    chunks = _split(args.corpus)
    t1 = time.perf_counter()
    store = _store(args.db, args.model, drop_old=True)
    t2 = time.perf_counter()
    store.add_documents(chunks)
    t3 = time.perf_counter()
    return {
        "chunks": len(chunks),
        "split_s": round(t1 - t0, 3),
        "setup_s": round(t2 - t1, 3),
        "embed_and_store_s": round(t3 - t2, 3),
        "pipeline_s": round(t3 - t0, 3),
    }


def cmd_query(args: argparse.Namespace) -> dict:
    chunks = _split(args.corpus)  # for neighbours: the same split the ingestion made
    by_pos = {(c.metadata["source"], c.metadata["seq"]): c.page_content for c in chunks}
    store = _store(args.db, args.model, drop_old=False)
    queries = [json.loads(x) for x in args.queries.read_text(encoding="utf-8").splitlines() if x]
    store.similarity_search("warm up", k=1)
    out = []
    for q in queries:
        langs = q.get("lang") or []
        expr = "lang in [" + ", ".join(json.dumps(x) for x in langs) + "]" if langs else None
        started = time.perf_counter()
        hits = store.similarity_search(q["q"], k=args.k, expr=expr)
        ms = (time.perf_counter() - started) * 1000
        out.append(
            {
                "id": q["id"],
                "ms": round(ms, 3),
                "hits": [
                    {
                        "text": h.page_content,
                        "lang": h.metadata.get("lang", ""),
                        "source": h.metadata["source"],
                        "prev": by_pos.get((h.metadata["source"], h.metadata["seq"] - 1), ""),
                        "next": by_pos.get((h.metadata["source"], h.metadata["seq"] + 1), ""),
                    }
                    for h in hits
                ],
            }
        )
    return {"queries": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="the LangChain baseline pipeline")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("ingest", "query"):
        p = sub.add_parser(name)
        p.add_argument("--db", type=Path, required=True)
        p.add_argument("--model", required=True)
        p.add_argument("--corpus", type=Path, required=True)
        if name == "query":
            p.add_argument("--queries", type=Path, required=True)
            p.add_argument("--k", type=int, default=10)
    args = ap.parse_args(argv)
    result = cmd_ingest(args) if args.cmd == "ingest" else cmd_query(args)
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
