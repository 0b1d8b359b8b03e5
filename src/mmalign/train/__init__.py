"""mmalign.train"""
