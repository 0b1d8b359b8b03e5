"""mmalign.implicit"""
