--  Ada view of the septet C API's Q3P5 (3.5-bit) codec and matvec
--  (include/septet/septet_c.h) on caller-owned arrays, with the shapes, code
--  ranges and integer bounds written as contracts. Build with -gnata so they
--  are checked at run time: a broken precondition raises
--  Ada.Assertions.Assertion_Error (GNAT's System.Assertions.Assert_Failure)
--  before any C code runs.
--
--  Matrices are W (Rows x Cols) stored row after row: W ((R - 1) * Cols + K).
with Interfaces;   use Interfaces;
with Interfaces.C; use Interfaces.C;

package Septet_Q3P5 is

   --  docs/formats.md, "Integer overflow bounds": the kernel sums K products
   --  x_q * v in int32 with |x_q| <= 127 (8-bit activations) and 0 <= v <= 15
   --  (Q3P5 codes), so K <= K_Max = floor ((2**31 - 1) / (127 * 15)) can never
   --  overflow (SEPTET_Q3P5_K_MAX, quant::kQ3P5MaxAccLength).
   Act_Max   : constant := 127;
   Code3_Max : constant := 7;    --  u, a 3-bit code
   Code4_Max : constant := 15;   --  v = 2u + e, the upgraded sub-block's 4-bit code
   K_Max     : constant := (2**31 - 1) / (Act_Max * Code4_Max);
   pragma Assert (K_Max = 1_127_288);

   Block_Size   : constant := 128;
   Block_Bytes  : constant := 56;
   Sub_Block    : constant := 32;
   Header_Bytes : constant := 4;
   Sub_Bytes    : constant := 12;

   --  |x| bound for Matvec: |y| <= K_Max * |w|max * X_Max with |w| <= 16 * 65504
   --  (m + 15 d, both fp16) stays below Float'Last (3.4e38): 1.2e6 * 1.1e6 * 1e20 < 1.4e32.
   X_Max : constant := 1.0e20;

   subtype Code3 is Integer_32 range 0 .. Code3_Max;
   subtype Code4 is Integer_32 range 0 .. Code4_Max;
   subtype Act_Code is Integer_32 range -Act_Max .. Act_Max;
   type Code_Array is array (Positive range <>) of Code4;
   type Act_Array is array (Positive range <>) of Act_Code;

   type Byte_Array is array (Positive range <>) of aliased Unsigned_8 with Convention => C;
   type Float_Array is array (Positive range <>) of aliased C_float with Convention => C;

   subtype Cols_Count is Positive range 1 .. K_Max;

   type Status is new int;
   OK : constant Status := 0;

   --  Bytes of one packed row: full 56-byte blocks, then a short block of
   --  4 + 12 * ceil (r / 32) bytes for a remainder r (septet_q3p5_row_bytes).
   function Row_Bytes (Cols : Cols_Count) return Positive is
     ((Cols / Block_Size) * Block_Bytes
      + (if Cols mod Block_Size = 0 then 0
         else Header_Bytes + Sub_Bytes * ((Cols mod Block_Size + Sub_Block - 1) / Sub_Block)))
   with Post => Row_Bytes'Result * 8 <= 4 * Cols + 96 + 32;  --  3.5 bpw + at most one short block's overhead

   function Is_Finite (V : C_float) return Boolean is (V >= -C_float'Last and then V <= C_float'Last);

   --  The int32 sum the kernel computes per sub-block: exact, never overflows.
   function Dot_I32 (Q : Act_Array; V : Code_Array) return Integer_32
   with Pre  => Q'Length = V'Length and then Q'Length <= K_Max,
        Post => abs Dot_I32'Result <= Act_Max * Code4_Max * Integer_32 (Q'Length);

   --  Every block header of every row holds finite fp16 fields: d (bits 0-14,
   --  exponent bits 10-14) and m (bits 17-31, exponent bits 26-30) have an
   --  exponent below 31. What Quantize writes always does.
   function Headers_Finite (Packed : Byte_Array; Rows : Positive; Cols : Cols_Count) return Boolean
   with Pre => Long_Long_Integer (Packed'Length) = Long_Long_Integer (Rows) * Long_Long_Integer (Row_Bytes (Cols));

   procedure Quantize (W : Float_Array; Rows : Positive; Cols : Cols_Count; Packed : out Byte_Array;
                       Result : out Status)
   with Pre  => Long_Long_Integer (W'Length) = Long_Long_Integer (Rows) * Long_Long_Integer (Cols)
                and then Long_Long_Integer (Packed'Length)
                         = Long_Long_Integer (Rows) * Long_Long_Integer (Row_Bytes (Cols))
                and then (for all V of W => Is_Finite (V) and then abs V <= 65504.0),
        Post => Result = OK and then Headers_Finite (Packed, Rows, Cols);

   procedure Dequantize (Packed : Byte_Array; Rows : Positive; Cols : Cols_Count; W : out Float_Array;
                         Result : out Status)
   with Pre  => Long_Long_Integer (Packed'Length)
                = Long_Long_Integer (Rows) * Long_Long_Integer (Row_Bytes (Cols))
                and then Long_Long_Integer (W'Length) = Long_Long_Integer (Rows) * Long_Long_Integer (Cols)
                and then Headers_Finite (Packed, Rows, Cols),
        Post => Result = OK and then (for all V of W => Is_Finite (V));

   --  Y (R) = sum_K W (R, K) * X (K), by the SIMD kernel with 8-bit activations.
   procedure Matvec (Packed : Byte_Array; Rows : Positive; Cols : Cols_Count; X : Float_Array;
                     Y : out Float_Array; Result : out Status)
   with Pre  => Long_Long_Integer (Packed'Length)
                = Long_Long_Integer (Rows) * Long_Long_Integer (Row_Bytes (Cols))
                and then X'Length = Cols
                and then Y'Length = Rows
                and then Headers_Finite (Packed, Rows, Cols)
                and then (for all V of X => Is_Finite (V) and then abs V <= X_Max),
        Post => Result = OK and then (for all V of Y => Is_Finite (V));

   --  The C library's own Row_Bytes, for cross-checking the expression above.
   function C_Row_Bytes (Cols : Cols_Count) return Natural;

end Septet_Q3P5;
