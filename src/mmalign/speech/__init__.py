"""mmalign.speech"""
