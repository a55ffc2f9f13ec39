export interface Point {
  x: number;
  y: number;
}

export function distance(a: Point, b: Point): number {
  const dx = a.x - b.x;
  const dy = a.y - b.y;
  return Math.sqrt(dx * dx + dy * dy);
}

export class Rectangle {
  constructor(
    readonly origin: Point,
    readonly width: number,
    readonly height: number,
  ) {}

  area(): number {
    return this.width * this.height;
  }

  contains(p: Point): boolean {
    return (
      p.x >= this.origin.x &&
      p.x <= this.origin.x + this.width &&
      p.y >= this.origin.y &&
      p.y <= this.origin.y + this.height
    );
  }

  // Try it: type "perimeter(): number {" below and wait for the suggestion.
}
