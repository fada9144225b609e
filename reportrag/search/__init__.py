"""The read path: filtered dense/hybrid retrieval, fusion, chatbot context, evaluation.

Depends on the shared core only.
"""
