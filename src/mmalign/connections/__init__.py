"""mmalign.connections"""
